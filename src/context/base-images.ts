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
 * Where a new base ends, when the server has none yet: below the layers made in the same
 * build as the top one (those usually change from one build to the next), or else below
 * the top layer alone. Always at least one layer above it and one in it.
 */
export function splitOf(created: ReadonlyArray<string | undefined>): number {
  const n = created.length;
  const top = Date.parse(created[n - 1] ?? "");
  let split = n - 1;
  if (!Number.isNaN(top)) {
    while (split > 0 && top - Date.parse(created[split - 1] ?? "") < SAME_BUILD_MS) split--;
  }
  return split === 0 ? n - 1 : split;
}
