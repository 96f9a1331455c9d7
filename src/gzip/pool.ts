/** The compression Workers: jobs in, members out, block buffers recycled between them. */

import type { BufferPool } from "../lib/recycle.ts";
import { workerUrl } from "../lib/worker-url.ts";
import type { BlockJob, GzipDone, GzipJob } from "./worker.ts";

/**
 * Each Worker holds up to this many blocks: the next one waits in its queue, so it starts
 * the moment the last ends, not after a round trip through a busy main thread.
 */
const QUEUE_DEPTH = 2;

interface Slot {
  worker: Worker;
  queued: number;
}

const WORKER_URL = workerUrl(import.meta, "gzip/worker.ts");

export class WorkerPool implements BufferPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Array<() => void> = [];
  private readonly pending = new Map<number, { resolve: (d: GzipDone) => void; reject: (e: unknown) => void }>();
  /**
   * Block buffers spent, ready to be filled again. A new one is made only when none is
   * spare, so there are never more than were once in flight at the same time.
   */
  private readonly spare: Uint8Array[] = [];
  /**
   * What each member's buffer is: a block's (a stored member) or one the Worker made (a
   * compressed member). Both are the pipeline's alone; a chunk from anywhere else is not
   * in here, whatever its size.
   */
  private readonly sent = new WeakMap<ArrayBuffer, "block" | "member">();
  private nextId = 0;
  private closed = false;

  /** `bufferSize`: what a block buffer holds, its block and the room to store it in place. */
  constructor(
    private readonly size: number,
    private readonly bufferSize: number,
  ) {}

  buffer(): Uint8Array {
    return this.spare.pop() ?? new Uint8Array(this.bufferSize);
  }

  /**
   * A spent member's buffer, claimed: a block's is to be filled again, and a compressed
   * member's is to be freed on the spot (detaching it releases the memory now, where JSC
   * would hold it until a full collection, and one of those stops the main thread for
   * several ms). Neither is the pool's once it is closed.
   */
  claim(chunk: Uint8Array): "block" | "member" | undefined {
    const buffer = chunk.buffer as ArrayBuffer;
    const kind = this.sent.get(buffer);
    if (!kind || this.closed) return undefined;
    this.sent.delete(buffer);
    return kind;
  }

  refill(buffer: ArrayBuffer): void {
    if (this.closed) buffer.transfer(0);
    else this.spare.push(new Uint8Array(buffer));
  }

  async compress(job: BlockJob, level: number): Promise<GzipDone> {
    const slot = await this.acquire();
    const id = this.nextId++;
    try {
      return await new Promise<GzipDone>((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        const message: GzipJob = { ...job, data: job.data ?? this.buffer(), id, level };
        slot.worker.postMessage(message, [message.data.buffer as ArrayBuffer]);
      });
    } finally {
      slot.queued--;
      this.waiting.shift()?.();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.spare.length = 0;
    for (const s of this.slots) s.worker.terminate();
    for (const p of this.pending.values()) p.reject(new Error("gzip pool closed"));
    this.pending.clear();
    for (const wake of this.waiting.splice(0)) wake();
  }

  /** The least-loaded Worker, a new one while some are still to start, or a wait. */
  private async acquire(): Promise<Slot> {
    for (;;) {
      if (this.closed) throw new Error("gzip pool closed");
      let best = this.slots.reduce<Slot | undefined>((a, b) => (a && a.queued <= b.queued ? a : b), undefined);
      if ((!best || best.queued > 0) && this.slots.length < this.size) best = this.spawn();
      if (best && best.queued < QUEUE_DEPTH) {
        best.queued++;
        return best;
      }
      await new Promise<void>((wake) => this.waiting.push(wake));
    }
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_URL, { smol: true } as WorkerOptions);
    worker.onmessage = (event: MessageEvent<GzipDone>) => {
      const done = event.data;
      const p = this.pending.get(done.id);
      this.pending.delete(done.id);
      // A compressed member comes in a buffer of its own, and the block's buffer comes back.
      if (done.data) this.spare.push(done.data);
      if (done.out.byteLength > 0) this.sent.set(done.out.buffer as ArrayBuffer, done.data ? "member" : "block");
      if (done.error !== undefined) p?.reject(new Error(`reading the image failed: ${done.error}`));
      else p?.resolve(done);
    };
    worker.onerror = (event) => {
      const err = new Error(`gzip worker failed: ${event.message}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    const slot = { worker, queued: 0 };
    this.slots.push(slot);
    return slot;
  }
}
