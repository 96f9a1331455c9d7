/**
 * Where a chunk goes once the pipeline is done with it. JSC frees a big ArrayBuffer only
 * when it collects, and on its own schedule lets spent ones pile up. So the compressor's
 * block buffers go back to it to be filled again: the data of a file input then makes no
 * garbage, and costs no page faults, no collections and no memory beyond the blocks in
 * flight. A chunk that is not the compressor's but is its buffer's only view (a pipe's
 * read, a merged or base64 copy) is freed on the spot by detaching the buffer: a full GC
 * costs the main thread 5-15 ms, and a `docker save` of 1 GB brought 70 of them, which
 * stalled the pipe, and so the save. What is left, a view into a larger buffer, is
 * garbage, and a full GC per `every` bytes of it keeps peak RSS flat (README, Performance).
 */

/** A pool of buffers to fill again. */
export interface BufferPool {
  /**
   * Claims the buffer behind a spent chunk if it is one of the pool's: a "block" buffer is
   * to be filled again (handed back through `refill`), a "member" one only freed.
   */
  claim(chunk: Uint8Array): "block" | "member" | undefined;
  refill(buffer: ArrayBuffer): void;
}

/** What becomes of a claimed buffer: filled again by the pool, or freed. */
export type Afterwards = "refill" | "free";

export class Recycler {
  private pool: BufferPool | undefined;
  private garbage = 0;

  constructor(private readonly every: number) {}

  /** The compressor's pool: spent chunks it claims go back there. */
  adopt(pool: BufferPool): void {
    this.pool = pool;
  }

  /** The chunk's bytes are sent or copied away, and no stage will read it again. */
  spent(chunk: Uint8Array): void {
    const afterwards = this.claim(chunk);
    if (afterwards) this.settle(chunk.buffer as ArrayBuffer, afterwards);
  }

  /**
   * Takes the buffer behind a spent chunk where nothing else can see it (the pool's, or a
   * chunk that views all of it), so it may cross to a Worker and back before `settle`.
   * Undefined where the chunk is a view into a larger buffer: that is garbage, counted.
   */
  claim(chunk: Uint8Array): Afterwards | undefined {
    const kind = this.pool?.claim(chunk);
    if (kind) return kind === "block" ? "refill" : "free";
    const buffer = chunk.buffer;
    if (buffer instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === buffer.byteLength && chunk.byteLength > 0) {
      return "free";
    }
    this.garbage += chunk.byteLength;
    if (this.garbage >= this.every) {
      this.garbage = 0;
      Bun.gc(true);
    }
    return undefined;
  }

  /** A claimed buffer, done with: to the pool, or freed now rather than at JSC's next collection. */
  settle(buffer: ArrayBuffer, afterwards: Afterwards): void {
    if (afterwards === "refill" && this.pool) this.pool.refill(buffer);
    else buffer.transfer(0);
  }
}
