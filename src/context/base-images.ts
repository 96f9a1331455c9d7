/**
 * Images that layers can be reused from, named by content under the server's registry
 * prefix: a base by the chain ID of its layers (computed from the config's diff IDs, no
 * layer read), a whole image by its image ID. A name can so never point at other content
 * that this tool put there.
 */

/** chain[i] names layers 0..i together: the first diff ID, then sha256("prev next") upward (the OCI rule). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const id of diffIds) {
    const prev = out.at(-1);
    out.push(prev === undefined ? id : `sha256:${new Bun.CryptoHasher("sha256").update(`${prev} ${id}`).digest("hex")}`);
  }
  return out;
}

const hex = (digest: string) => digest.replace(/^sha256:/, "");

/** The base image of the bottom layers whose chain ID this is. */
export function baseName(prefix: string, chainId: string): string {
  return `${prefix.replace(/\/+$/, "")}/runtime-upload-layers:${hex(chainId)}`;
}

/** The whole image, layers and config, by its image ID. */
export function wholeName(prefix: string, imageId: string): string {
  return `${prefix.replace(/\/+$/, "")}/runtime-upload-images:${hex(imageId)}`;
}

/** Layers made this long before the top one belong to the base image the user built on. */
const SAME_BUILD_MS = 10 * 60 * 1000;

/**
 * Where the bases end that an upload builds on its way to the image, above the base it
 * found (`found` layers; 0 for none): below the layers made in the top layer's own build (a
 * rebuild without the cache makes them all anew, and then finds the base below them), and
 * below the top layer (a rebuild with the cache changes it alone, and finds the base below
 * it). Bottom first; the image itself is built on the last.
 */
export function cutsOf(created: ReadonlyArray<string | undefined>, found: number): number[] {
  const n = created.length;
  const top = Date.parse(created[n - 1] ?? "");
  let own = n - 1;
  if (!Number.isNaN(top)) {
    while (own > 0 && top - Date.parse(created[own - 1] ?? "") < SAME_BUILD_MS) own--;
  }
  return [...new Set([own, n - 1])].filter((cut) => cut > found && cut > 0).sort((a, b) => a - b);
}
