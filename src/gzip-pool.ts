/** The compression Workers: jobs in, members out, block buffers recycled between them. */
import type { GzipDone, GzipJob } from "./gzip-worker.ts";

/**
 * Each Worker holds up to this many blocks: the next one waits in its queue, so it starts
 * the moment the last ends, not after a round trip through a busy main thread.
 */
const QUEUE_DEPTH = 2;

interface Slot {
  worker: Worker;
  queued: number;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Array<() => void> = [];
  private readonly pending = new Map<number, { resolve: (d: GzipDone) => void; reject: (e: unknown) => void }>();
  /** Block buffers back from the workers, ready to be filled again. */
  private readonly spare: Uint8Array[] = [];
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly size: number,
    private readonly level: number,
  ) {}

  buffer(size: number): Uint8Array {
    return this.spare.pop() ?? new Uint8Array(size);
  }

  recycle(block: Uint8Array): void {
    this.spare.push(block);
  }

  async compress(job: Omit<GzipJob, "id" | "level">): Promise<GzipDone> {
    const slot = await this.acquire();
    const id = this.nextId++;
    try {
      return await new Promise<GzipDone>((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        const message: GzipJob = { ...job, id, level: this.level };
        slot.worker.postMessage(message, [job.data.buffer as ArrayBuffer]);
      });
    } finally {
      slot.queued--;
      this.waiting.shift()?.();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
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
    const worker = new Worker(new URL("./gzip-worker.ts", import.meta.url).href, { smol: true } as WorkerOptions);
    worker.onmessage = (event: MessageEvent<GzipDone>) => {
      const done = event.data;
      const p = this.pending.get(done.id);
      this.pending.delete(done.id);
      this.recycle(done.data);
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
