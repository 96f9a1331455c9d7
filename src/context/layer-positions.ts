/**
 * Which layer of the image a blob of its archive is, told as the archive passes, before
 * its manifest (docker save writes it last) could say: an OCI blob by its digest (an
 * uncompressed layer's digest is its diff ID); a docker save layer folder by its v1 ID,
 * which the engine derives from the layer's chain ID and its parent's v1 ID, and which the
 * json beside the layer holds with what it was derived from. A guess: the manifest read at
 * the end of the same pass confirms it, or the pass fails.
 */
import { chainIds } from "./base-images.ts";

const V1_JSON = /^([0-9a-f]{64})\/json$/;
const OCI_BLOB = /^blobs\/sha256\/([0-9a-f]{64})$/;

export class LayerPositions {
  private readonly byName = new Map<string, number>();
  private readonly byDiff: Map<string, number>;
  private readonly chain: string[];

  /** `known`: blob names a manifest has already placed. */
  constructor(diffIds: readonly string[], known?: ReadonlyMap<string, number>) {
    this.byDiff = new Map(diffIds.map((d, pos) => [d, pos]));
    this.chain = chainIds(diffIds);
    for (const [name, pos] of known ?? []) this.byName.set(name, pos);
  }

  /** Whether `name` is a docker save layer folder's json, which legacy() wants to see. */
  static wants(name: string): boolean {
    return V1_JSON.test(name);
  }

  /** A docker save layer folder's json: its layer.tar's position, where its v1 ID says. */
  legacy(name: string, json: Record<string, unknown>): void {
    const dir = V1_JSON.exec(name)?.[1];
    const { id, parent, ...rest } = json;
    if (!dir || id !== dir || (parent !== undefined && typeof parent !== "string")) return;
    // The engine sets the OS on a lower layer's json after deriving its ID.
    for (const fields of [rest, withoutOs(rest)]) {
      for (let pos = 0; pos < this.chain.length; pos++) {
        if (v1Id(fields, this.chain[pos] as string, parent) === dir) {
          this.byName.set(`${dir}/layer.tar`, pos);
          return;
        }
      }
    }
  }

  of(name: string): number | undefined {
    const known = this.byName.get(name);
    if (known !== undefined) return known;
    const digest = OCI_BLOB.exec(name)?.[1];
    return digest === undefined ? undefined : this.byDiff.get(`sha256:${digest}`);
  }
}

function withoutOs(fields: Record<string, unknown>): Record<string, unknown> {
  const { os: _, ...rest } = fields;
  return rest;
}

/**
 * The engine's v1 ID: the sha256 of the layer's v1 fields with its chain ID as layer_id
 * and its parent's digest, as Go writes a map (keys sorted, <, > and & escaped).
 */
function v1Id(fields: Record<string, unknown>, chainId: string, parent: string | undefined): string {
  const all: Record<string, unknown> = { ...fields, layer_id: chainId };
  if (parent) all.parent = `sha256:${parent}`;
  const sorted = Object.fromEntries(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const text = JSON.stringify(sorted).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`,
  );
  return new Bun.CryptoHasher("sha256").update(text).digest("hex");
}
