/** Tar's 512-byte blocks and header fields, as POSIX ustar and GNU lay them out. */

export const BLOCK = 512;
/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = 2 * BLOCK;

/** Zero bytes that pad data of `size` to a whole block. */
export function padding(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK - size;
}

/** A tar header's checksum counts its own field as spaces (POSIX ustar). */
export function validTarHeader(h: Uint8Array): boolean {
  const field = latin1(h, 148, 8).trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (h[i] as number);
  return sum === Number.parseInt(field, 8);
}

/** A NUL-terminated header field, a character a byte. */
export function latin1(h: Uint8Array, at: number, len: number): string {
  let end = at;
  while (end < at + len && h[end] !== 0) end++;
  return end === at ? "" : Buffer.from(h.buffer, h.byteOffset + at, end - at).toString("latin1");
}

export function isZero(h: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (h[i] !== 0) return false;
  return true;
}

/** A numeric header field: octal, or GNU base-256 where the value outgrows it (sizes of 8 GiB and up). */
export function numeric(h: Uint8Array, at: number, len: number): number {
  if (((h[at] as number) & 0x80) !== 0) {
    let n = 0;
    for (let i = at + 1; i < at + len; i++) n = n * 256 + (h[i] as number);
    return n;
  }
  return Number.parseInt(latin1(h, at, len).trim() || "0", 8) || 0;
}

export function entrySize(h: Uint8Array): number {
  return numeric(h, 124, 12);
}

export function entryName(h: Uint8Array): string {
  const name = latin1(h, 0, 100);
  const prefix = latin1(h, 257, 6) === "ustar" ? latin1(h, 345, 155) : "";
  return prefix ? `${prefix}/${name}` : name;
}

/** Typeflags of headers that describe the next entry (pax, GNU long names) rather than being one. */
export const META = "xgLK";
/** pax/GNU metadata larger than this is not metadata: every walker refuses an archive that claims so. */
export const META_CAP = 1024 * 1024;
