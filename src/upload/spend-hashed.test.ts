/** The send side's last stage: what it hashes on its Worker, and what it does with each buffer after. */
import { describe, expect, test } from "bun:test";
import { type BufferPool, Recycler } from "../lib/recycle.ts";
import { spendHashed } from "./spend-hashed.ts";

/** A pool that owns the buffers it is given, as the compressor's owns its blocks. */
class Blocks implements BufferPool {
  readonly owned = new Set<ArrayBuffer>();
  readonly refilled: Uint8Array[] = [];
  claim(chunk: Uint8Array) {
    return this.owned.delete(chunk.buffer as ArrayBuffer) ? ("block" as const) : undefined;
  }
  refill(buffer: ArrayBuffer) {
    this.refilled.push(new Uint8Array(buffer));
  }
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** Reads the stage as fetch does (one chunk, then the next), keeping a copy of each. */
async function drain(chunks: Uint8Array[], recycler: Recycler) {
  const input = new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of chunks) c.enqueue(chunk);
      c.close();
    },
  });
  let digest: string | undefined;
  const sent: Uint8Array[] = [];
  for await (const chunk of spendHashed(input, recycler, (hex) => (digest = hex)) as unknown as AsyncIterable<Uint8Array>) {
    sent.push(new Uint8Array(chunk));
  }
  return { digest, sent: Buffer.concat(sent) };
}

describe("spendHashed", () => {
  const shared = new ArrayBuffer(3 * 65536);
  test.each([
    ["chunks that are their buffers' only views", () => [bytes(70_000, 1), bytes(5, 2), bytes(300_000, 3)]],
    ["views into one larger buffer", () => [new Uint8Array(shared, 0, 65536), new Uint8Array(shared, 65536, 65536)]],
    ["small Buffers", () => [Buffer.from("abc"), Buffer.from("defg"), Buffer.from("h")]],
    [
      "Buffer views into one larger Buffer",
      () => [Buffer.from(bytes(9000, 7)).subarray(0, 1000), Buffer.from(bytes(9000, 8)).subarray(10, 20)],
    ],
    ["an empty chunk among others", () => [bytes(10, 4), new Uint8Array(0), bytes(10, 5)]],
    ["no chunks at all", () => []],
  ])("names the sha256 of exactly what it passed on: %s", async (_what, make) => {
    const chunks = make();
    // Before the run: a chunk that was its buffer's only view is detached by it.
    const whole = Buffer.concat(chunks.map((c) => new Uint8Array(c)));
    const { digest, sent } = await drain(chunks, new Recycler(Infinity));
    expect(sent).toEqual(whole);
    expect(digest).toBe(new Bun.CryptoHasher("sha256").update(whole).digest("hex"));
  });

  test.each([
    ["a Uint8Array", (big: ArrayBuffer) => new Uint8Array(big, 1000, 50_000)],
    ["a Buffer", (big: ArrayBuffer) => Buffer.from(big, 1000, 50_000)],
  ])("frees a whole buffer once hashed, and leaves the larger buffer behind a view (%s) to its other views", async (_what, view) => {
    const whole = bytes(100_000, 6);
    const big = new ArrayBuffer(200_000);
    const neighbour = new Uint8Array(big, 100_000, 10);
    neighbour.fill(7);
    await drain([whole, view(big)], new Recycler(Infinity));
    expect(whole.buffer.byteLength).toBe(0);
    expect(big.byteLength).toBe(200_000);
    expect([...neighbour]).toEqual(Array(10).fill(7));
  });

  test("gives the pool's blocks back to be filled again, whole and with the bytes that were sent", async () => {
    const pool = new Blocks();
    const recycler = new Recycler(Infinity);
    recycler.adopt(pool);
    // A stored member is a view of the start of its block's buffer.
    const blocks = [0, 1, 2, 3, 4, 5].map((i) => bytes(40_000, i));
    for (const b of blocks) pool.owned.add(b.buffer as ArrayBuffer);
    const members = blocks.map((b) => b.subarray(0, 30_000));
    const { digest, sent } = await drain(members, recycler);
    expect(digest).toBe(new Bun.CryptoHasher("sha256").update(sent).digest("hex"));
    expect(pool.refilled.map((b) => b.byteLength)).toEqual(Array(6).fill(40_000));
    expect(pool.refilled.map((b) => b[0])).toEqual(blocks.map((_, i) => bytes(1, i)[0] as number));
    expect(pool.owned.size).toBe(0);
  });
});
