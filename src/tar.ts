/**
 * A tar archive checked as it passes: every header valid, every entry complete, and a
 * clean end-of-archive (two zero blocks). A source that dies half-way, a cut-off file or
 * bytes that were never a tar fail here, before the closing boundary is sent, so no
 * server ever builds from a torn image. Only headers are parsed; data is counted.
 */
import { closeSync, openSync, readSync } from "node:fs";
import type { UploadError } from "./errors.ts";

export const BLOCK = 512;

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

function entryName(h: Uint8Array): string {
  const name = latin1(h, 0, 100);
  const prefix = latin1(h, 257, 6) === "ustar" ? latin1(h, 345, 155) : "";
  return prefix ? `${prefix}/${name}` : name;
}

/** Typeflags of headers that describe the next entry (pax, GNU long names) rather than being one. */
export const META = "xgLK";
/** pax/GNU metadata larger than this is not metadata: every walker refuses an archive that claims so. */
export const META_CAP = 1024 * 1024;

/** Where a torn archive was found, for the caller to phrase for its source. */
export class TornArchive extends Error {}

/**
 * The walk as a state machine over the archive's blocks: `header` says how many bytes of
 * data (padded to a block) follow, so callers can skip them by counting or by seeking.
 */
export class TarWalk {
  entries = 0;
  private zeros = 0;
  private ended = false;
  private current: { name: string; size: number } | undefined;

  /** Takes the next header block; returns how many bytes follow it before the next header. */
  header(h: Uint8Array, offset: number): number {
    if (this.ended) return 0;
    if (isZero(h)) {
      if (++this.zeros === 2) this.ended = true;
      return 0;
    }
    if (this.zeros > 0) throw new TornArchive(`a lone end-of-archive block at byte ${offset - BLOCK} is followed by more entries`);
    if (!validTarHeader(h)) {
      if (this.entries === 0 && h[0] === 0x1f && h[1] === 0x8b) {
        throw new TornArchive("it is gzip, not a tar: pass a .tar.gz as --input FILE (sent as is), or stream the tar uncompressed");
      }
      throw new TornArchive(
        this.entries === 0 ? "it is not a tar archive (the first header is not valid)" : `the header at byte ${offset} is not valid`,
      );
    }
    const size = entrySize(h);
    if (META.includes(String.fromCharCode(h[156] as number)) && size > META_CAP) {
      throw new TornArchive(`a ${size}-byte metadata header at byte ${offset - BLOCK} is not believable`);
    }
    this.entries++;
    this.current = { name: entryName(h), size };
    return size + padding(size);
  }

  /** The stream ended after `total` bytes, `missing` of them short of the current entry. */
  end(total: number, missing: number): void {
    if (this.ended) return;
    if (total === 0) throw new TornArchive("it is empty");
    if (missing > 0 && this.current) {
      const { name, size } = this.current;
      throw new TornArchive(`it ends inside entry ${name} (${Math.max(0, size - missing)} of ${size} bytes)`);
    }
    throw new TornArchive(`it ends after ${this.entries} entries without the end-of-archive marker`);
  }

  get done(): boolean {
    return this.ended;
  }
}

/** Feeds arbitrary chunks to a TarWalk: headers gathered across chunk edges, data skipped. */
class TarChecker {
  private walk = new TarWalk();
  private skip = 0;
  private head = new Uint8Array(BLOCK);
  private have = 0;
  private total = 0;

  push(chunk: Uint8Array): void {
    let at = 0;
    this.total += chunk.byteLength;
    while (at < chunk.byteLength && !this.walk.done) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.byteLength - at);
        this.skip -= n;
        at += n;
        continue;
      }
      const n = Math.min(BLOCK - this.have, chunk.byteLength - at);
      this.head.set(chunk.subarray(at, at + n), this.have);
      this.have += n;
      at += n;
      if (this.have === BLOCK) {
        this.have = 0;
        this.skip = this.walk.header(this.head, this.total - (chunk.byteLength - at));
      }
    }
  }

  end(): void {
    if (this.have > 0 && !this.walk.done) throw new TornArchive(`it ends inside a header, at byte ${this.total}`);
    this.walk.end(this.total, this.skip);
  }
}

/** How the caller words a torn archive for its source (stdin, a file, the engine). */
export type Torn = (e: TornArchive) => UploadError;

/** Runs a step of the walk; what it finds torn is reported in the caller's words. */
export function walking<T>(torn: Torn, step: () => T): T {
  try {
    return step();
  } catch (e) {
    throw e instanceof TornArchive ? torn(e) : e;
  }
}

/** A stage that passes bytes unchanged and errors, before the stream ends, on a torn tar. */
export function checkTar(input: ReadableStream<Uint8Array>, torn: Torn): ReadableStream<Uint8Array> {
  const checker = new TarChecker();
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        walking(torn, () => checker.push(chunk));
        controller.enqueue(chunk);
      },
      flush() {
        walking(torn, () => checker.end());
      },
    }),
  );
}

/**
 * The same check for a file whose bytes never reach this thread (the Workers pread it):
 * headers are read where the walk says they are, so the cost is one read per entry.
 */
export function checkTarFile(path: string, size: number, torn: Torn): void {
  walking(torn, () => walkFile(path, size));
}

function walkFile(path: string, size: number): void {
  const walk = new TarWalk();
  const h = new Uint8Array(BLOCK);
  const fd = openSync(path, "r");
  try {
    let at = 0;
    while (!walk.done) {
      const got = at < size ? readSync(fd, h, 0, BLOCK, at) : 0;
      if (got > 0 && got < BLOCK) throw new TornArchive(`it ends inside a header, at byte ${size}`);
      if (got < BLOCK) break;
      at += BLOCK;
      const skip = walk.header(h, at);
      if (at + skip > size) {
        walk.end(size, at + skip - size);
        break;
      }
      at += skip;
    }
    walk.end(size, 0);
  } finally {
    closeSync(fd);
  }
}

/** For gzip sent as is: inflate a copy on the side and walk the tar inside it. */
export function checkGzippedTar(input: ReadableStream<Uint8Array>, torn: Torn): ReadableStream<Uint8Array> {
  const inflate = new DecompressionStream("gzip");
  const writer = inflate.writable.getWriter();
  const checker = new TarChecker();
  const walked = (async () => {
    for await (const chunk of inflate.readable as unknown as AsyncIterable<Uint8Array>) checker.push(chunk);
    checker.end();
  })();
  walked.catch(() => {});
  const failed = (e: unknown) =>
    torn(e instanceof TornArchive ? e : new TornArchive(`its gzip data is damaged (${(e as Error)?.message ?? e})`));
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        try {
          await writer.write(chunk as Uint8Array<ArrayBuffer>);
        } catch (e) {
          // The inflater's own error says less than what the walk found, if it found anything.
          throw failed(
            await walked.then(
              () => e,
              (w) => w,
            ),
          );
        }
        controller.enqueue(chunk);
      },
      async flush() {
        try {
          await writer.close();
          await walked;
        } catch (e) {
          throw failed(e);
        }
      },
    }),
  );
}

/**
 * The entries of a tar file, with where each starts (its long-name or pax headers
 * included) and where its padded data ends: read header by header, a pread each, under
 * the walk's rules (an entry past the end of the file, or metadata past the cap, is torn).
 */
export function listEntries(path: string, size: number): Entry[] {
  const out: Entry[] = [];
  const walk = new TarWalk();
  const h = new Uint8Array(BLOCK);
  const fd = openSync(path, "r");
  try {
    let at = 0;
    let start: number | undefined;
    let longName: string | undefined;
    while (!walk.done) {
      if (at + BLOCK > size || readSync(fd, h, 0, BLOCK, at) < BLOCK) {
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
        readSync(fd, data, 0, length, dataStart);
        if (type === "L") longName = latin1(data, 0, length);
        else if (type === "x") longName = paxRecords(data).get("path") ?? longName;
        continue;
      }
      out.push({ name: longName ?? entryName(h), type, start, dataStart, end: at, size: length });
      start = undefined;
      longName = undefined;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** pax records: "LEN key=value\n", LEN counting the whole record. The one pax parser. */
export function paxRecords(body: Uint8Array): Map<string, string> {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("latin1");
  const out = new Map<string, string>();
  let at = 0;
  while (at < text.length) {
    const space = text.indexOf(" ", at);
    const len = Number.parseInt(text.slice(at, space), 10);
    if (space < 0 || !(len > 0) || at + len > text.length) throw new TornArchive(`a pax header is malformed near byte ${at}`);
    const record = text.slice(space + 1, at + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
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
