// The sha256 of everything sent, on a thread of its own: chunks arrive in the order they
// were sent, each already copied into fetch's send buffer, and go back to be filled again.
declare const self: Worker;

/** A spent chunk to hash, then hand back (`back`) or free; or the end, answered with the digest. */
export type HashJob = { chunk: Uint8Array; back: boolean } | { end: true };

/** One per chunk, in order: its buffer where it goes back; then the digest after the end. */
export type HashDone = { buffer?: ArrayBuffer } | { digest: string };

const hasher = new Bun.CryptoHasher("sha256");

self.onmessage = (event: MessageEvent<HashJob>) => {
  const job = event.data;
  if ("end" in job) return self.postMessage({ digest: hasher.digest("hex") } satisfies HashDone);
  hasher.update(job.chunk);
  const buffer = job.chunk.buffer as ArrayBuffer;
  if (job.back) return self.postMessage({ buffer } satisfies HashDone, [buffer]);
  // Freed now: a Worker's heap collects as lazily as the main thread's.
  buffer.transfer(0);
  self.postMessage({} satisfies HashDone);
};
