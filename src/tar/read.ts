/**
 * A tar archive read entry by entry from a stream: headers parsed whole (pax and GNU long
 * names folded in), data handed on in the pieces it arrives in, never held. Names are
 * kept as latin1 strings, one character a byte, so any name survives a round trip.
 */
import { pullStream } from "../lib/streams.ts";
import { BLOCK, entrySize, isZero, latin1, META, numeric, padding } from "./block.ts";
import { paxRecords } from "./pax.ts";
import { TarWalk, TornArchive } from "./walk.ts";

export interface TarHeader {
  path: string;
  /** The typeflag: "0" a file, "1" a hard link, "2" a symlink, "5" a folder, … */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkpath: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** pax records kept as they came: extended attributes (file capabilities among them). */
  xattrs: Array<[string, string]>;
}

export interface TarEntry extends TarHeader {
  /** The next piece of the entry's data, or undefined once it is all read. */
  read(max?: number): Promise<Uint8Array | undefined>;
}

/** Bytes by count from a stream: exactly n for a header, up to n for data. */
class ByteReader {
  private buf: Uint8Array = new Uint8Array(0);
  private at = 0;
  offset = 0;
  constructor(private readonly reader: { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> }) {}

  private async more(): Promise<boolean> {
    while (this.at >= this.buf.byteLength) {
      const r = await this.reader.read();
      if (r.done || !r.value) return false;
      this.buf = r.value;
      this.at = 0;
    }
    return true;
  }

  async some(max: number): Promise<Uint8Array | undefined> {
    if (!(await this.more())) return undefined;
    const n = Math.min(max, this.buf.byteLength - this.at);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    this.offset += n;
    return out;
  }

  /** n bytes, or fewer where the stream ends first. */
  async exactly(n: number): Promise<Uint8Array> {
    const first = await this.some(n);
    if (!first || first.byteLength === n) return first ?? new Uint8Array(0);
    const out = new Uint8Array(n);
    out.set(first);
    let got = first.byteLength;
    while (got < n) {
      const c = await this.some(n - got);
      if (!c) return out.subarray(0, got);
      out.set(c, got);
      got += c.byteLength;
    }
    return out;
  }

  /** Skips n bytes; returns how many were missing at the end of the stream. */
  async skip(n: number): Promise<number> {
    while (n > 0) {
      const c = await this.some(n);
      if (!c) return n;
      n -= c.byteLength;
    }
    return 0;
  }

  release(): void {
    this.reader.cancel().catch(() => {});
  }
}

/** What a pax number may be: whole ids and sizes, a decimal time (before 1970 too); no more digits than a double holds. */
const PAX_NUMBER = { uid: /^\d{1,15}$/, gid: /^\d{1,15}$/, size: /^\d{1,15}$/, mtime: /^-?\d{1,15}(\.\d{0,9})?$/ } as const;

/** A pax number, or the header's own where pax has none; anything else is refused, never written on as NaN. */
function paxNumber(pax: Map<string, string>, key: keyof typeof PAX_NUMBER, fallback: number): number {
  const text = pax.get(key);
  if (text === undefined) return fallback;
  if (!PAX_NUMBER[key].test(text))
    throw new TornArchive(`a pax header's ${key} is not a number that fits: ${JSON.stringify(text.slice(0, 40))}`);
  return Number(text);
}

/** The entries of a tar stream; the data of each is skipped if the caller does not read it. */
/** `onEnd` learns how many bytes the archive took, its end-of-archive marker included (what follows is padding). */
export async function* tarEntries(input: ReadableStream<Uint8Array>, onEnd?: (bytes: number) => void): AsyncGenerator<TarEntry> {
  const r = new ByteReader(input.getReader());
  let pax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  // The same checks as the torn-archive check on a stream: valid headers, a clean end.
  const walk = new TarWalk();
  try {
    for (;;) {
      const at = r.offset;
      const h = await r.exactly(BLOCK);
      if (h.byteLength < BLOCK) {
        if (h.byteLength > 0) throw new TornArchive(`it ends inside a header, at byte ${r.offset}`);
        // The walk has not ended, so this throws: empty, or no end-of-archive marker.
        walk.end(at, 0);
      }
      walk.header(h, r.offset);
      if (walk.done) {
        onEnd?.(r.offset);
        return;
      }
      if (isZero(h)) continue;
      const type = String.fromCharCode(h[156] as number);
      const size = entrySize(h);
      if (META.includes(type)) {
        const body = await r.exactly(size);
        if (body.byteLength < size || (await r.skip(padding(size))) > 0)
          throw new TornArchive(`it ends inside a metadata header at byte ${at}`);
        if (type === "x") pax = paxRecords(body);
        else if (type === "L") longName = latin1(body, 0, body.byteLength);
        else if (type === "K") longLink = latin1(body, 0, body.byteLength);
        continue;
      }
      if (type === "S") throw new TornArchive(`entry ${latin1(h, 0, 100)} is a GNU sparse file, which is not supported here`);
      const prefix = latin1(h, 257, 6) === "ustar" ? latin1(h, 345, 155) : "";
      const name = latin1(h, 0, 100);
      const num = (key: keyof typeof PAX_NUMBER, fallback: number) => paxNumber(pax, key, fallback);
      const entry: TarHeader = {
        path: pax.get("path") ?? longName ?? (prefix ? `${prefix}/${name}` : name),
        type: type === "\0" || type === "7" ? "0" : type,
        mode: numeric(h, 100, 8) & 0o7777,
        uid: num("uid", numeric(h, 108, 8)),
        gid: num("gid", numeric(h, 116, 8)),
        size: num("size", size),
        mtime: Math.floor(num("mtime", numeric(h, 136, 12))),
        linkpath: pax.get("linkpath") ?? longLink ?? latin1(h, 157, 100),
        uname: pax.get("uname") ?? latin1(h, 265, 32),
        gname: pax.get("gname") ?? latin1(h, 297, 32),
        devmajor: numeric(h, 329, 8),
        devminor: numeric(h, 337, 8),
        xattrs: pax.size === 0 ? [] : [...pax].filter(([k]) => k.startsWith("SCHILY.xattr.") || k.startsWith("LIBARCHIVE.xattr.")),
      };
      // Base-256 fields can say more than a double holds: such an id or size is no real one.
      for (const k of ["uid", "gid", "size"] as const) {
        if (!Number.isSafeInteger(entry[k])) throw new TornArchive(`entry ${entry.path} has a ${k} too large to be real`);
      }
      if (pax.size > 0) pax = new Map();
      longName = undefined;
      longLink = undefined;
      let left = entry.size;
      const read = async (max = 1024 * 1024) => {
        if (left === 0) return undefined;
        const c = await r.some(Math.min(max, left));
        if (!c) throw new TornArchive(`it ends inside entry ${entry.path} (${entry.size - left} of ${entry.size} bytes)`);
        left -= c.byteLength;
        return c;
      };
      yield Object.assign(entry, { read });
      const missing = await r.skip(left + padding(entry.size));
      if (missing > 0) throw new TornArchive(`it ends inside entry ${entry.path}`);
      left = 0;
    }
  } finally {
    r.release();
  }
}

/** An entry's data as a stream (to inflate a gzip'd layer, say), pulled on demand. */
export function entryStream(entry: TarEntry, head?: Uint8Array): ReadableStream<Uint8Array> {
  let first = head;
  return pullStream({
    async next() {
      const c = first ?? (await entry.read());
      first = undefined;
      return c;
    },
  });
}
