/** The entries of a tar file and where each lies, for copying some of them byte for byte or reading a few. */
import { closeSync, openSync } from "node:fs";
import { preadFully } from "../lib/pread.ts";
import { BLOCK } from "./block.ts";
import type { DecodedHeader } from "./header.ts";
import { type ReadPiece, readBack } from "./sparse.ts";
import { TornArchive } from "./torn-archive.ts";
import { following, TarWalk } from "./walk.ts";

/**
 * The entries of a tar file, with where each starts (its long-name or pax headers
 * included) and where its padded data ends: read header by header, a pread each, under
 * the walk's rules (an entry past the end of the file, or metadata past the cap, is torn).
 */
export function listEntries(path: string, size: number): Entry[] {
  return [...fileEntries(path, size)];
}

/** The same, one entry at a time: walking a large archive holds none of them. */
export function* fileEntries(path: string, size: number): Generator<Entry> {
  const walk = new TarWalk();
  const h = new Uint8Array(BLOCK);
  const fd = openSync(path, "r");
  try {
    let at = 0;
    let start: number | undefined;
    while (!walk.done) {
      const got = at < size ? preadFully(fd, h, at) : 0;
      if (got > 0 && got < BLOCK) throw new TornArchive(`it ends inside a header, at byte ${size}`);
      if (got < BLOCK) {
        walk.end(at, 0);
        break;
      }
      const dataStart = at + BLOCK;
      const step = walk.header(h, dataStart);
      const skip = following(step);
      if (dataStart + skip > size) walk.end(size, dataStart + skip - size);
      at = dataStart + skip;
      if (step.kind === "zero") continue;
      start ??= dataStart - BLOCK;
      if (step.kind === "meta") {
        const data = new Uint8Array(step.size);
        preadFully(fd, data, dataStart);
        walk.meta(data);
        continue;
      }
      if (step.kind === "extension") continue;
      yield { ...step.entry, name: step.entry.path, start, dataStart, end: at };
      start = undefined;
    }
  } finally {
    closeSync(fd);
  }
}

export interface Entry extends DecodedHeader {
  name: string;
  /** Where the entry's first header starts (a long-name or pax header, if it has one). */
  start: number;
  /** Where its stored data starts: `stored` bytes of it. */
  dataStart: number;
  /** Where its data, padded to a block, ends. */
  end: number;
}

/** Data read from a file entry at once, at most. */
const PIECE = 1024 * 1024;

/**
 * The entries of a tar file as a reader of a tar stream sees them (a path, a type, a size,
 * the data piece by piece), but only the data asked for is read: the rest is never touched.
 */
export async function* seekEntries(path: string, size: number): AsyncGenerator<SeekEntry> {
  const fd = openSync(path, "r");
  try {
    for (const e of fileEntries(path, size)) {
      let at = e.dataStart;
      const end = e.dataStart + e.stored;
      const physical: ReadPiece = async (max = PIECE) => {
        if (at >= end) return undefined;
        const piece = new Uint8Array(Math.min(max, end - at));
        const got = preadFully(fd, piece, at);
        if (got < piece.byteLength) throw new TornArchive(`it ends inside entry ${e.name} (the file shrank while it was read)`);
        at += got;
        return piece;
      };
      const read = await readBack(physical, e);
      yield { path: e.name, type: e.type, linkpath: e.linkpath, size: e.size, read };
    }
  } finally {
    closeSync(fd);
  }
}

/** What a reader of archive entries needs of one, from a stream or from a file. */
export interface SeekEntry {
  path: string;
  type: string;
  linkpath: string;
  size: number;
  read(max?: number): Promise<Uint8Array | undefined>;
}
