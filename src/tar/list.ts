/** The entries of a tar file and where each lies, for copying some of them byte for byte. */
import { closeSync, openSync } from "node:fs";
import { preadFully } from "../lib/pread.ts";
import { BLOCK, entryName, entrySize, isZero, latin1, META } from "./block.ts";
import { paxRecords } from "./pax.ts";
import { TarWalk, TornArchive } from "./walk.ts";

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
    let longName: string | undefined;
    while (!walk.done) {
      const got = at < size ? preadFully(fd, h, at) : 0;
      if (got > 0 && got < BLOCK) throw new TornArchive(`it ends inside a header, at byte ${size}`);
      if (got < BLOCK) {
        walk.end(at, 0);
        break;
      }
      const dataStart = at + BLOCK;
      const skip = walk.header(h, dataStart);
      if (dataStart + skip > size) walk.end(size, dataStart + skip - size);
      at = dataStart + skip;
      if (isZero(h)) continue;
      const length = entrySize(h);
      const type = String.fromCharCode(h[156] as number);
      start ??= dataStart - BLOCK;
      if (META.includes(type)) {
        const data = new Uint8Array(length);
        preadFully(fd, data, dataStart);
        if (type === "L") longName = latin1(data, 0, length);
        else if (type === "x") longName = paxRecords(data).get("path") ?? longName;
        continue;
      }
      yield { name: longName ?? entryName(h), type, start, dataStart, end: at, size: length };
      start = undefined;
      longName = undefined;
    }
  } finally {
    closeSync(fd);
  }
}

export interface Entry {
  name: string;
  /** The typeflag: "0" a file, "5" a folder, … */
  type: string;
  /** Where the entry's first header starts (a long-name or pax header, if it has one). */
  start: number;
  dataStart: number;
  /** Where its data, padded to a block, ends. */
  end: number;
  size: number;
}
