/**
 * The stage fetch reads, and the sha256 of what it sent. A chunk is spent once fetch asks
 * for the next one: Bun's fetch copies each chunk into its send buffer as it writes it,
 * before it reads on (test/fetch-copies.test.ts holds it to that). Its buffer then crosses
 * to a Worker that hashes it and hands it back to be filled again, so the main thread,
 * which also reads the engine's socket and feeds the compressors, does not spend 1.2 s of
 * CPU per 1.15 GB hashing (docs/performance.md, "sha256 off the main thread").
 */
import type { Recycler } from "../lib/recycle.ts";
import { type PullStream, pullStream } from "../lib/streams.ts";
import { workerUrl } from "../lib/worker-url.ts";
import type { HashDone, HashJob } from "./sha256-worker.ts";

/** Spent chunks at the Worker at once: past this fetch waits, so memory stays bounded. */
const AWAY = 4;

const WORKER_URL = workerUrl(import.meta, "upload/sha256-worker.ts");

export function spendHashed(input: ReadableStream<Uint8Array>, recycler: Recycler, onDigest: (hex: string) => void): PullStream {
  const reader = input.getReader();
  let worker: Worker | undefined;
  let away = 0;
  let failed: Error | undefined;
  /** Whoever waits on the Worker: for room, or for the digest. */
  let wake: (() => void) | undefined;
  let digest: string | undefined;
  let last: Uint8Array | undefined;

  const start = (): Worker => {
    const w = new Worker(WORKER_URL, { smol: true } as WorkerOptions);
    w.onmessage = (event: MessageEvent<HashDone>) => {
      const done = event.data;
      if ("digest" in done) digest = done.digest;
      else {
        away--;
        if (done.buffer) recycler.settle(done.buffer, "refill");
      }
      wake?.();
    };
    w.onerror = (event) => {
      failed = new Error(`hashing what was sent failed: ${event.message}`);
      wake?.();
    };
    return w;
  };
  const until = async (ready: () => boolean) => {
    while (!ready()) {
      if (failed) throw failed;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    if (failed) throw failed;
  };
  const send = (job: HashJob, transfer: ArrayBuffer[] = []) => {
    away += "end" in job ? 0 : 1;
    worker ??= start();
    worker.postMessage(job, transfer);
  };

  return pullStream({
    async next() {
      if (last) {
        // Only a buffer nothing else can see may cross; a view into a larger one goes as a copy.
        const afterwards = recycler.claim(last);
        // (Uint8Array's slice: a Buffer's is a view, and would take its slab along.)
        const chunk = afterwards ? last : Uint8Array.prototype.slice.call(last);
        send({ chunk, back: afterwards === "refill" }, [chunk.buffer as ArrayBuffer]);
        last = undefined;
      }
      await until(() => away < AWAY);
      const r = await reader.read();
      last = r.done ? undefined : r.value;
      if (last) return last;
      send({ end: true });
      await until(() => digest !== undefined);
      onDigest(digest as string);
      return undefined;
    },
    release: (reason) => {
      worker?.terminate();
      return reader.cancel(reason).catch(() => {});
    },
  });
}
