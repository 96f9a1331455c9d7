/**
 * Which layer of the image a blob of its archive is, told as the archive passes, before
 * its manifest (docker save writes it last) could say: an OCI blob by its digest (an
 * uncompressed layer's digest is its diff ID); podman's and skopeo's `<diff-id>.tar` by
 * its name (their `<v1-id>/layer.tar` is only a link to it); a docker save layer folder by its v1 ID,
 * which the engine derives from the layer's chain ID and its parent's v1 ID, and which the
 * json beside the layer holds with what it was derived from. A guess: the manifest read at
 * the end of the same pass confirms it, or the pass fails.
 */
import { chainIds } from "./base-images.ts";

const V1_JSON = /^([0-9a-f]{64})\/json$/;
/** An OCI blob, or podman's and skopeo's docker-archive layer: both named by the digest of what they hold. */
const BY_DIGEST = /^(?:blobs\/sha256\/([0-9a-f]{64})|([0-9a-f]{64})\.tar)$/;

/**
 * What placing layer folders may cost in hashing, all of an archive's together: each
 * try hashes a whole json, and an archive of many layers and large jsons would otherwise
 * cost layers × jsons × their size.
 */
const HASHING_BUDGET = 64 * 1024 * 1024;

export class LayerPositions {
  private readonly byName = new Map<string, number>();
  private readonly byDiff: Map<string, number>;
  private readonly chain: string[];
  /** v1 IDs placed so far → their position: a child's parent places it one above, at the first try. */
  private readonly byV1 = new Map<string, number>();
  private hashed = 0;

  /** `known`: blob names a manifest has already placed; then no layer folder needs placing. */
  constructor(
    diffIds: readonly string[],
    private readonly known?: ReadonlyMap<string, number>,
  ) {
    this.byDiff = new Map(diffIds.map((d, pos) => [d, pos]));
    this.chain = chainIds(diffIds);
    for (const [name, pos] of known ?? []) this.byName.set(name, pos);
  }

  /** Whether layer folders' json are to be placed by: only where no manifest has placed the blobs. */
  placesByJson(): boolean {
    return !this.known;
  }

  /** Whether `name` is a docker save layer folder's json, which legacy() places a layer by. */
  static isLayerJson(name: string): boolean {
    return V1_JSON.test(name);
  }

  /**
   * A docker save layer folder's json: its layer.tar's position, where its v1 ID says.
   * False where placing it went past the hashing budget: nothing more is placed.
   */
  legacy(name: string, json: Record<string, unknown>): boolean {
    const dir = V1_JSON.exec(name)?.[1];
    const { id, parent, ...rest } = json;
    if (!dir || id !== dir || (parent !== undefined && typeof parent !== "string")) return true;
    // Only the bottom layer has no parent; a child of a placed parent sits one above it.
    const above = parent === undefined ? undefined : this.byV1.get(parent);
    const order =
      parent === undefined
        ? [0]
        : [...new Set([(above ?? 0) + 1, ...this.chain.keys()])].filter((pos) => pos > 0 && pos < this.chain.length);
    // The engine sets the OS on a lower layer's json after deriving its ID.
    for (const fields of [rest, withoutOs(rest)]) {
      for (const pos of order) {
        const text = v1Text(fields, this.chain[pos] as string, parent);
        this.hashed += text.length;
        if (this.hashed > HASHING_BUDGET) return false;
        if (new Bun.CryptoHasher("sha256").update(text).digest("hex") === dir) {
          this.byName.set(`${dir}/layer.tar`, pos);
          this.byV1.set(dir, pos);
          return true;
        }
      }
    }
    return true;
  }

  of(name: string): number | undefined {
    const known = this.byName.get(name);
    if (known !== undefined) return known;
    const m = BY_DIGEST.exec(name);
    const digest = m?.[1] ?? m?.[2];
    return digest === undefined ? undefined : this.byDiff.get(`sha256:${digest}`);
  }
}

function withoutOs(fields: Record<string, unknown>): Record<string, unknown> {
  const { os: _, ...rest } = fields;
  return rest;
}

/**
 * What the engine hashes into a v1 ID: the layer's v1 fields with its chain ID as layer_id
 * and its parent's digest, as Go writes a map (keys sorted, <, > and & escaped).
 */
function v1Text(fields: Record<string, unknown>, chainId: string, parent: string | undefined): string {
  const all: Record<string, unknown> = { ...fields, layer_id: chainId };
  if (parent) all.parent = `sha256:${parent}`;
  const sorted = Object.fromEntries(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify(sorted).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`);
}
