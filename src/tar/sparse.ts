/**
 * Sparse files, in the four ways GNU tar writes them (old GNU type S, PAX 0.0, 0.1, 1.0):
 * the map of where the data lies, checked as Go's archive/tar checks it, and the file read
 * back whole, its holes as zeros, a piece at a time.
 */
import { BLOCK, META_CAP, numeric } from "./block.ts";
import { paxInteger } from "./pax.ts";
import { TornArchive } from "./torn-archive.ts";

/** Where the data lies in the file: [offset, length] pairs, in order. */
export type SparseMap = Array<[number, number]>;

/** Reads up to `max` bytes of an entry's data; undefined once it is all read. */
export type ReadPiece = (max?: number) => Promise<Uint8Array | undefined>;

/** An old GNU sparse map's extension blocks past this are not a map: the one metadata cap. */
export const MAX_EXTENSIONS = META_CAP / BLOCK;

/**
 * The pairs of an old GNU header (4 at byte 386) or extension block (21 at byte 0); true
 * where another extension block follows (the flag after the pairs).
 */
export function oldGnuPairs(h: Uint8Array, header: boolean, into: SparseMap, name: string): boolean {
  const [at, count] = header ? [386, 4] : [0, 21];
  for (let i = 0; i < count; i++) {
    const o = at + i * 24;
    // GNU and BSD tar stop at the first pair whose offset field is empty.
    if (h[o] === 0) break;
    const offset = numeric(h, o, 12);
    const length = numeric(h, o + 12, 12);
    if (offset === undefined || length === undefined)
      throw new TornArchive(`entry ${name}'s sparse map holds a field that is not a number`);
    into.push([offset, length]);
  }
  return (h[at + count * 24] as number) !== 0;
}

/** PAX 0.0 and 0.1: "offset,length,…" in a record, with the count of pairs in another. */
export function listedMap(list: string | undefined, count: string | undefined, name: string): SparseMap {
  const n = paxInteger(count ?? "");
  const parts = list ? list.split(",") : [];
  if (n === undefined || parts.length !== 2 * n) throw new TornArchive(`entry ${name}'s sparse map does not hold the pairs it counts`);
  return pairs(parts, name);
}

function pairs(numbers: string[], name: string): SparseMap {
  const map: SparseMap = [];
  for (let i = 0; i + 1 < numbers.length; i += 2) {
    const offset = paxInteger(numbers[i] as string, true);
    const length = paxInteger(numbers[i + 1] as string, true);
    if (offset === undefined || length === undefined)
      throw new TornArchive(`entry ${name}'s sparse map holds a field that is not a number`);
    map.push([offset, length]);
  }
  return map;
}

/**
 * PAX 1.0: the map heads the data, newline-separated decimals (the count, then the pairs),
 * padded to a block. Returns the map and how many bytes of the data it took.
 */
async function mapInData(read: ReadPiece, stored: number, name: string): Promise<{ map: SparseMap; taken: number }> {
  let text = "";
  let lines = 0;
  let want = 1;
  let taken = 0;
  while (lines < want) {
    if (taken + BLOCK > stored || taken + BLOCK > META_CAP)
      throw new TornArchive(`entry ${name}'s sparse map ${taken + BLOCK > stored ? "runs past its data" : "is too large to be real"}`);
    const block = await exactly(read, BLOCK, name);
    taken += BLOCK;
    const piece = Buffer.from(block.buffer, block.byteOffset, block.byteLength).toString("latin1");
    text += piece;
    for (const c of piece) if (c === "\n") lines++;
    if (want === 1 && lines >= 1) {
      const n = paxInteger(text.slice(0, text.indexOf("\n")));
      if (n === undefined) throw new TornArchive(`entry ${name}'s sparse map does not start with its count`);
      want = 1 + 2 * n;
    }
  }
  const tokens = text.split("\n").slice(1, want);
  return { map: pairs(tokens, name), taken };
}

async function exactly(read: ReadPiece, n: number, name: string): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const c = await read(n - got);
    if (!c) throw new TornArchive(`it ends inside entry ${name}'s sparse map`);
    out.set(c, got);
    got += c.byteLength;
  }
  return out;
}

/**
 * Go's checks (BSD tar's): each pair within the file, in order, not overlapping; and the
 * data the archive stores is exactly what the pairs add up to.
 */
function checkMap(map: SparseMap, size: number, stored: number, name: string): void {
  let end = 0;
  let data = 0;
  for (const [offset, length] of map) {
    if (offset < 0 || length < 0 || offset + length > size || offset < end)
      throw new TornArchive(`entry ${name}'s sparse map is damaged (a region out of order or past the file's ${size} bytes)`);
    end = offset + length;
    data += length;
  }
  if (data !== stored) throw new TornArchive(`entry ${name}'s sparse map names ${data} bytes of data, and the archive holds ${stored}`);
}

/** The file as it reads back: the stored pieces where the map puts them, zeros between; never more than `max` at once. */
function expand(read: ReadPiece, map: SparseMap, size: number, name: string): ReadPiece {
  const regions = map.filter(([, length]) => length > 0);
  let pos = 0;
  let i = 0;
  return async (max = 1024 * 1024) => {
    if (pos >= size) return undefined;
    const region = regions[i];
    if (region && pos >= region[0]) {
      const end = region[0] + region[1];
      const c = await read(Math.min(max, end - pos));
      if (!c) throw new TornArchive(`it ends inside entry ${name}`);
      pos += c.byteLength;
      if (pos >= end) i++;
      return c;
    }
    const hole = Math.min(max, (region ? region[0] : size) - pos);
    pos += hole;
    return new Uint8Array(hole);
  };
}

/** An entry's data as it reads back: the stored bytes, or a sparse file expanded (its map read and checked first). */
export async function readBack(
  physical: ReadPiece,
  e: { path: string; size: number; stored: number; sparse?: SparseMap | "in-data" },
): Promise<ReadPiece> {
  if (!e.sparse) return physical;
  const { map, taken } = e.sparse === "in-data" ? await mapInData(physical, e.stored, e.path) : { map: e.sparse, taken: 0 };
  checkMap(map, e.size, e.stored - taken, e.path);
  return expand(physical, map, e.size, e.path);
}
