/**
 * Where a chunk goes once the pipeline is done with it. JSC frees a big ArrayBuffer only
 * when it collects, and on its own schedule lets spent ones pile up. So the compressor's
 * block buffers go back to it to be filled again: the data of a file input then makes no
 * garbage, and costs no page faults, no collections and no memory beyond the blocks in
 * flight. What is not the compressor's (chunks of a pipe, merged or base64 copies) is
 * garbage, and a full GC per `every` bytes of it keeps peak RSS flat (README, Performance).
 */

/** A pool of buffers to fill again. */
export interface BufferPool {
  /** Takes the buffer behind a spent chunk if it is one of the pool's; false if not. */
  take(chunk: Uint8Array): boolean;
}

export class Recycler {
  private pool: BufferPool | undefined;
  private garbage = 0;

  constructor(private readonly every: number) {}

  /** The compressor's pool: spent chunks it takes go back there. */
  adopt(pool: BufferPool): void {
    this.pool = pool;
  }

  /** The chunk's bytes are sent or copied away, and no stage will read it again. */
  spent(chunk: Uint8Array): void {
    if (this.pool?.take(chunk)) return;
    this.garbage += chunk.byteLength;
    if (this.garbage >= this.every) {
      this.garbage = 0;
      Bun.gc(true);
    }
  }
}
