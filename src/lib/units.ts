/** Sizes as people read them. */

/** "14.0 MiB", or "1.50 GiB" from a gibibyte up. */
export function mib(n: number): string {
  return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : `${(n / 1048576).toFixed(1)} MiB`;
}
