/** Small stream stages that sit between the big ones, and the one way a stage is pulled. */

export interface Meter {
  bytes: number;
}

/** A stage that makes its output on demand: the next chunk, or undefined at the end. */
export interface Puller {
  /**
   * `live()` turns false once the stream is cancelled or stopped: a read that ends after
   * that (a cancelled reader reports "done") must not be taken for the input's real end.
   */
  next(live: () => boolean): Promise<Uint8Array | undefined>;
  /** Release what the stage holds (a reader, a child, Workers): on cancel, stop, or its own failure. */
  release?(reason?: unknown): unknown;
}

export interface PullStream extends ReadableStream<Uint8Array> {
  /** Ends the stage from outside, whoever holds the stream (fetch may still be reading it). */
  stop(reason?: unknown): void;
}

/**
 * A web stream pulled one chunk at a time (no read-ahead: backpressure reaches the source).
 * After a cancel or a stop, a read still in flight may settle: its chunk or error is dropped,
 * because the consumer is gone and the controller is closed by then.
 */
export function pullStream(p: Puller): PullStream {
  let done = false;
  const live = () => !done;
  const finish = (reason?: unknown) => {
    if (done) return;
    done = true;
    return p.release?.(reason);
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: Uint8Array | undefined;
        try {
          chunk = await p.next(live);
        } catch (e) {
          if (done) return;
          await finish(e);
          controller.error(e);
          return;
        }
        if (done) return;
        if (chunk !== undefined) return controller.enqueue(chunk);
        await finish();
        controller.close();
      },
      async cancel(reason) {
        await finish(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return Object.assign(stream, { stop: (reason?: unknown) => void finish(reason) });
}

/** Counts bytes as they pass; the counter is read by progress reporting. */
export function count(input: ReadableStream<Uint8Array>, meter: Meter): ReadableStream<Uint8Array> {
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        meter.bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    }),
  );
}

/** Chunks the hashing Worker may hold at once: it hashes one while the next crosses over. */
const HASH_AHEAD = 2;

/** A chunk that owns its whole buffer can be transferred; any other is copied into one that does. */
function exclusive(chunk: Uint8Array): Uint8Array {
  return chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer
    ? chunk
    : chunk.slice();
}

/**
 * Hashes what passes, so the summary can name the digest of exactly what was sent. The
 * hashing runs in a Worker (on stored, already-compressed data it was a third of the main
 * thread's time): each chunk is transferred there and back, in order, never copied.
 */
export function sha256(input: ReadableStream<Uint8Array>, onDigest: (hex: string) => void): ReadableStream<Uint8Array> {
  const reader = input.getReader();
  const worker = new Worker(new URL("./hash-worker.ts", import.meta.url).href, { smol: true } as WorkerOptions);
  const waiting: Array<{ resolve: (v: Uint8Array | string) => void; reject: (e: unknown) => void }> = [];
  worker.onmessage = (event: MessageEvent<Uint8Array | string>) => waiting.shift()?.resolve(event.data);
  worker.onerror = (event) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`sha256 worker failed: ${event.message}`));
  };
  const ask = (message: Uint8Array | "end") =>
    new Promise<Uint8Array | string>((resolve, reject) => {
      waiting.push({ resolve, reject });
      if (message === "end") worker.postMessage(message);
      else worker.postMessage(message, [message.buffer as ArrayBuffer]);
    });
  const ahead: Array<Promise<Uint8Array | string>> = [];
  let ended = false;
  return pullStream({
    async next() {
      while (!ended && ahead.length < HASH_AHEAD) {
        const r = await reader.read();
        if (r.done) ended = true;
        else ahead.push(ask(exclusive(r.value)));
      }
      const next = ahead.shift();
      if (next) return (await next) as Uint8Array;
      onDigest((await ask("end")) as string);
      worker.terminate();
      return undefined;
    },
    release: (reason) => {
      worker.terminate();
      return reader.cancel(reason).catch(() => {});
    },
  });
}

/**
 * Merges small chunks into ones of at least `min` bytes. Bun's fetch sends each chunk as
 * one HTTP chunk with a fixed cost, so 16 KiB chunks run at a tenth of 1 MiB ones.
 */
export function rechunk(input: ReadableStream<Uint8Array>, min: number): ReadableStream<Uint8Array> {
  const reader = input.getReader();
  return pullStream({
    async next() {
      const parts: Uint8Array[] = [];
      let size = 0;
      while (size < min) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        size += value.byteLength;
      }
      if (size === 0) return undefined;
      return parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts, size);
    },
    release: (reason) => reader.cancel(reason).catch(() => {}),
  });
}

/** Base64 text of the stream ([OH] form), 3-byte groups carried across chunk edges. */
export function base64(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let rest: Uint8Array = new Uint8Array(0);
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        const all = rest.length ? Buffer.concat([rest, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        const whole = all.length - (all.length % 3);
        rest = Uint8Array.prototype.slice.call(all, whole);
        if (whole > 0) controller.enqueue(Buffer.from(all.subarray(0, whole).toString("base64"), "latin1"));
      },
      flush(controller) {
        if (rest.length) controller.enqueue(Buffer.from(Buffer.from(rest).toString("base64"), "latin1"));
      },
    }),
  );
}

/**
 * JSC frees big ArrayBuffers only when it collects, and on its own schedule lets spent
 * blocks and members pile up: a full GC per `every` bytes read keeps peak RSS flat
 * (measured in README's Performance section) for about 1 % of the time.
 */
export function collectGarbage(input: ReadableStream<Uint8Array>, read: Meter, every: number): ReadableStream<Uint8Array> {
  let next = every;
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (read.bytes >= next) {
          next = read.bytes + every;
          Bun.gc(true);
        }
        controller.enqueue(chunk);
      },
    }),
  );
}

/** A web stream over an async iterable (tar-fs gives a streamx stream), pulled on demand. */
export function fromIterable(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return pullStream({
    next: async () => {
      const r = await it.next();
      return r.done ? undefined : r.value;
    },
    release: () => it.return?.(),
  });
}

/** gzip inflated on the way (Bun's DecompressionStream, typed for Uint8Array in and out). */
export function gunzip(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  return input.pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>);
}

/**
 * Ends a stream when `signal` fires, even while a read waits on a source that sends
 * nothing (a hung engine): the source is cancelled, which takes its child along.
 */
export function abortable(input: ReadableStream<Uint8Array>, signal: AbortSignal): ReadableStream<Uint8Array> {
  const reader = input.getReader();
  const stop = () => reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  return pullStream({
    async next() {
      const r = await reader.read();
      if (signal.aborted) throw signal.reason;
      return r.done ? undefined : r.value;
    },
    release: (reason) => {
      signal.removeEventListener("abort", stop);
      return reader.cancel(reason).catch(() => {});
    },
  });
}
