import { closeSync, openSync } from "node:fs";
import { Readable } from "node:stream";
import { createGzip } from "node:zlib";
import { Recycler } from "../lib/recycle.ts";
import { count, type Meter, pullStream } from "../lib/streams.ts";
import { LevelControl } from "./level-control.ts";
import { WorkerPool } from "./pool.ts";
import { storedSize } from "./stored.ts";
import type { BlockJob, GzipDone } from "./worker.ts";

export const GZIP_MODES = ["parallel", "single"] as const;
type GzipMode = (typeof GZIP_MODES)[number];

/** A level, or "auto": each block's level chosen as the upload runs (level-control.ts). */
export type Level = number | "auto";

/** What auto's single-member gzip uses: it has no blocks to choose for. */
const SINGLE_AUTO_LEVEL = 6;

/** The bytes read and sent at each level. */
export type LevelBytes = Map<number, { read: number; sent: number }>;

/** Uncompressed bytes read, and at each level where blocks are compressed (`levels`, where given, is filled). */
export interface ReadMeter extends Meter {
  levels?: LevelBytes;
}

export interface GzipOptions {
  mode: GzipMode;
  level: Level;
  /** Worker threads compressing at once ("parallel" only). */
  jobs: number;
  /** Uncompressed bytes per gzip member ("parallel" only). */
  blockSize: number;
}

export const DEFAULT_BLOCK_SIZE = 2 * 1024 * 1024;

/**
 * The tar to compress: a stream the main thread cuts into blocks, or a regular file whose
 * blocks the Workers read themselves (so its bytes never cross the main thread).
 */
export type TarInput = ReadableStream<Uint8Array> | { file: string };

/**
 * Counts uncompressed bytes into `read` as they are taken from the input. In "parallel"
 * mode a stored member is its block's buffer and a compressed one has a buffer of its
 * own: `recycler` gets the pool, so a spent block buffer takes a later block instead of
 * fresh memory, and a spent compressed member is freed at once.
 */
export function gzip(
  input: TarInput,
  opts: GzipOptions,
  read: ReadMeter = { bytes: 0 },
  recycler = new Recycler(Infinity),
): ReadableStream<Uint8Array> {
  if (opts.mode === "single") {
    const level = opts.level === "auto" ? SINGLE_AUTO_LEVEL : opts.level;
    return singleGzip(count(input instanceof ReadableStream ? input : Bun.file(input.file).stream(), read), level);
  }
  const feed = input instanceof ReadableStream ? streamFeed(input, recycler) : fileFeed(input.file);
  return parallelGzip(feed, opts, read, recycler);
}

/** Where blocks come from: jobs for the Workers, in input order. */
interface Feed {
  /**
   * The job for the next block of `size` bytes, or undefined when the input has ended.
   * `buffer()` gives a block buffer to fill now; a job without one (a file's) gets it when
   * a Worker takes the job, so blocks that wait for a Worker hold no memory.
   */
  next(size: number, buffer: () => Uint8Array): Promise<BlockJob | undefined>;
  close(reason?: unknown): void;
}

/** Source chunks are copied into block buffers, and spent once copied whole. */
function streamFeed(input: ReadableStream<Uint8Array>, recycler: Recycler): Feed {
  const reader = input.getReader();
  let leftover: Uint8Array | undefined;
  let ended = false;
  return {
    async next(size, buffer) {
      let block: Uint8Array | undefined;
      let filled = 0;
      while (filled < size && !ended) {
        let chunk = leftover;
        leftover = undefined;
        if (!chunk) {
          const r = await reader.read();
          if (r.done) {
            ended = true;
            break;
          }
          chunk = r.value;
        }
        const take = Math.min(chunk.byteLength, size - filled);
        block ??= buffer();
        block.set(chunk.subarray(0, take), filled);
        filled += take;
        if (take < chunk.byteLength) leftover = chunk.subarray(take);
        else recycler.spent(chunk);
      }
      return block && filled > 0 ? { data: block, length: filled } : undefined;
    },
    close(reason) {
      reader.cancel(reason).catch(() => {});
    },
  };
}

/**
 * Blocks at fixed offsets, read by the Workers with pread: no copy, no chunk garbage on
 * the main thread. The end shows as a short block; blocks handed out past it come back
 * empty and are dropped.
 */
function fileFeed(path: string): Feed {
  let fd: number | undefined;
  let position = 0;
  return {
    async next(size) {
      fd ??= openSync(path, "r");
      const job = { file: { fd, position, size } };
      position += size;
      return job;
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/**
 * One gzip member per block, compressed by a pool of Workers and emitted in input order.
 * Concatenated members are one valid gzip file (RFC 1952 section 2.2). At most
 * 2 * jobs + 2 blocks are in flight, so memory is bounded whatever the input size, and a
 * slow consumer stops the reads, which stops the producer through pipe backpressure.
 * With level "auto", a block is compressed at the level LevelControl picks for it when it
 * enters the queue, and the queue grows a block at a time from one per Worker: the first
 * blocks are compressed before anything is measured, so few are.
 */
function parallelGzip(feed: Feed, opts: Omit<GzipOptions, "mode">, read: ReadMeter, recycler: Recycler): ReadableStream<Uint8Array> {
  const pool = new WorkerPool(opts.jobs, storedSize(opts.blockSize));
  recycler.adopt(pool);
  const auto = opts.level === "auto" ? new LevelControl() : undefined;
  const inFlight: Promise<GzipDone>[] = [];
  const maxInFlight = 2 * opts.jobs + 2;
  let ended = false;
  /** A short (or empty) block came back: it ends the input; later ones are dropped even if a file grew meanwhile. */
  let sawEnd = false;
  let emitted = 0;
  /** When the consumer took the block before. */
  let lastTake: number | undefined;
  /** The read running now, and what ended one: the input's error, for the send side to meet. */
  let filling: Promise<void> | undefined;
  let failed: { error: unknown } | undefined;
  /** Wakes a send side that waits for the first block in flight, not for the read to fill the queue. */
  let arrived: (() => void) | undefined;

  async function fill(): Promise<void> {
    while (!ended && inFlight.length < (auto ? Math.min(maxInFlight, opts.jobs + emitted) : maxInFlight)) {
      const job = await feed.next(opts.blockSize, () => pool.buffer());
      if (!job) {
        ended = true;
        return;
      }
      const member = pool.compress(job, auto ? auto.pick() : (opts.level as number));
      // Closing the pool rejects blocks nobody will await; that is not an error to report.
      member.catch(() => {});
      inFlight.push(member);
      arrived?.();
    }
  }

  /**
   * Reads on up to the cap, in the background: a pipe (the engine's save) is then read
   * while the send side hashes and sends, not only while it waits for a block, and the
   * save is not held up by the pipe's few hundred KB filling meanwhile.
   */
  function refill(): Promise<void> {
    if (failed) return Promise.reject(failed.error);
    filling ??= fill().then(
      () => {
        filling = undefined;
      },
      (error) => {
        failed = { error };
        filling = undefined;
        throw error;
      },
    );
    return filling;
  }

  return pullStream({
    async next() {
      // From here to a member in hand, the send side waits: on the input or on the Workers.
      const asked = performance.now();
      for (;;) {
        // An input's error is met here, once the blocks read before it are sent.
        while (inFlight.length === 0 && !ended) await Promise.race([refill(), new Promise<void>((wake) => (arrived = wake))]);
        arrived = undefined;
        const next = inFlight.shift();
        if (!next) break;
        refill().catch(() => {});
        const done = await next;
        const { out, length } = done;
        const dropped = sawEnd || length === 0;
        if (length < opts.blockSize) ended = sawEnd = true;
        if (dropped) {
          recycler.spent(out);
          continue;
        }
        const now = performance.now();
        auto?.next({
          level: done.level,
          read: length,
          sent: out.byteLength,
          stored: done.stored,
          compressMs: done.ms,
          sinceLastMs: lastTake === undefined ? 0 : now - lastTake,
          waitedMs: now - asked,
          workers: opts.jobs,
        });
        lastTake = now;
        read.bytes += length;
        if (read.levels) {
          const at = read.levels.get(done.level) ?? { read: 0, sent: 0 };
          read.levels.set(done.level, { read: at.read + length, sent: at.sent + out.byteLength });
        }
        emitted++;
        return out;
      }
      // An empty input is still a valid, empty gzip file, not zero bytes.
      if (emitted++ === 0) return Bun.gzipSync(new Uint8Array(0), { level: (opts.level === "auto" ? 1 : opts.level) as 1 });
      return undefined;
    },
    release: (reason) => {
      pool.close();
      feed.close(reason);
    },
  });
}

/** One gzip member from zlib-ng, for servers that reject multi-member gzip. */
function singleGzip(input: ReadableStream<Uint8Array>, level: number): ReadableStream<Uint8Array> {
  const z = Readable.fromWeb(input as import("node:stream/web").ReadableStream).pipe(createGzip({ level, chunkSize: 1024 * 1024 }));
  return Readable.toWeb(z) as unknown as ReadableStream<Uint8Array>;
}
