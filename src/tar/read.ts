/**
 * A tar archive read entry by entry from a stream: headers parsed whole (pax and GNU long
 * names folded in), data handed on in the pieces it arrives in, never held; a sparse file
 * handed on whole, its holes as zeros. Names are kept as latin1 strings, one character a
 * byte, so any name survives a round trip.
 */
import { pullStream } from "../lib/streams.ts";
import { BLOCK, padding } from "./block.ts";
import type { TarHeader } from "./header.ts";
import { type ReadPiece, readBack } from "./sparse.ts";
import { TornArchive } from "./torn-archive.ts";
import { TarWalk, type WalkOptions } from "./walk.ts";

export interface TarEntry extends TarHeader {
  /** The next piece of the entry's data, or undefined once it is all read. */
  read: ReadPiece;
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

export interface TarReadOptions extends WalkOptions {
  /** Learns how many bytes the archive took, its end-of-archive marker included (what follows is padding). */
  onEnd?: (bytes: number) => void;
}

/** The entries of a tar stream; the data of each is skipped if the caller does not read it. */
export async function* tarEntries(input: ReadableStream<Uint8Array>, options: TarReadOptions = {}): AsyncGenerator<TarEntry> {
  const r = new ByteReader(input.getReader());
  // The same checks as the torn-archive check on a stream: valid headers, a clean end.
  const walk = new TarWalk(options);
  try {
    for (;;) {
      const at = r.offset;
      const h = await r.exactly(BLOCK);
      if (h.byteLength < BLOCK) {
        if (h.byteLength > 0) throw new TornArchive(`it ends inside a header, at byte ${r.offset}`);
        // Throws unless the walk may end here: empty, or no end-of-archive marker.
        walk.end(at, 0);
      }
      const step = walk.header(h, r.offset);
      if (walk.done) {
        options.onEnd?.(r.offset);
        return;
      }
      if (step.kind === "meta") {
        const body = await r.exactly(step.size);
        if (body.byteLength < step.size || (await r.skip(padding(step.size))) > 0)
          throw new TornArchive(`it ends inside a metadata header at byte ${at}`);
        walk.meta(body);
        continue;
      }
      if (step.kind !== "entry") continue;
      const { stored, sparse, ...header } = step.entry;
      let left = stored;
      const physical: ReadPiece = async (max = 1024 * 1024) => {
        if (left === 0) return undefined;
        const c = await r.some(Math.min(max, left));
        if (!c) throw new TornArchive(`it ends inside entry ${header.path} (${stored - left} of ${stored} bytes)`);
        left -= c.byteLength;
        return c;
      };
      const read = await readBack(physical, { ...header, stored, sparse });
      yield Object.assign(header, { read });
      const missing = await r.skip(left + padding(stored));
      if (missing > 0) throw new TornArchive(`it ends inside entry ${header.path}`);
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
