import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { tempDir } from "../../test/helpers.ts";
import { Recycler } from "../lib/recycle.ts";
import { worthCompressing } from "./compressible.ts";
import { DEFAULT_BLOCK_SIZE, gzip, type Level, type LevelBytes, type TarInput } from "./gzip.ts";
import { storedSize, storeInPlace } from "./stored.ts";

const BLOCK = 64 * 1024;

/** Compressible but not trivial: text with random runs. */
function sample(size: number): Uint8Array {
  const out = new Uint8Array(size);
  const text = new TextEncoder().encode("runtime-upload streams images through gzip. ");
  for (let i = 0; i < size; i++) out[i] = (i >> 10) % 3 === 0 ? (Math.random() * 256) | 0 : (text[i % text.length] as number);
  return out;
}

/** Like a layer of compressed files beside text: random and text runs whose edges fall mid-block. */
function mixed(): Uint8Array {
  const text = sample(BLOCK * 3).map((b, i) => ((i >> 10) % 3 === 0 ? 0x61 + (i % 26) : b));
  const random = () => crypto.getRandomValues(new Uint8Array(BLOCK));
  const parts = [text.subarray(0, BLOCK * 1.5), random(), random(), random().subarray(0, BLOCK / 4), text.subarray(0, BLOCK / 2 + 3)];
  parts.push(random().subarray(0, BLOCK - 7));
  return new Uint8Array(Buffer.concat(parts));
}

/** Feeds the input in odd-sized chunks so block edges fall mid-chunk. */
function source(data: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= data.length) return c.close();
      const n = Math.min(data.length - at, 1 + ((at * 7919) % 50_000));
      c.enqueue(data.slice(at, at + n));
      at += n;
    },
  });
}

type InputKind = "stream" | "file";
const inputs = tempDir("ru-gzip-in-");

/** Compresses through either input path; also checks the read meter saw every byte. */
async function compress(
  data: Uint8Array,
  mode: "parallel" | "single",
  blockSize = BLOCK,
  kind: InputKind = "stream",
  level: Level = 6,
  levels?: LevelBytes,
): Promise<Buffer> {
  let input: TarInput = source(data);
  if (kind === "file") {
    const file = join(inputs, `in-${data.length}-${blockSize}.tar`);
    writeFileSync(file, data);
    input = { file };
  }
  const read = { bytes: 0, levels };
  const recycler = new Recycler(Infinity);
  // Consumed as fetch does: each chunk is copied out, then spent, so its buffer takes a later block.
  const parts: Buffer[] = [];
  for await (const chunk of gzip(input, { mode, level, jobs: 2, blockSize }, read, recycler) as unknown as AsyncIterable<Uint8Array>) {
    parts.push(Buffer.from(chunk));
    recycler.spent(chunk);
  }
  expect(read.bytes).toBe(data.length);
  return Buffer.concat(parts);
}

const decoders: Array<[string, (file: string) => Buffer]> = [
  ["GNU gzip -d", (f) => Bun.spawnSync(["gzip", "-dc", f]).stdout as Buffer],
  [
    "Python gzip",
    (f) => Bun.spawnSync(["python3", "-c", "import gzip,sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())", f]).stdout as Buffer,
  ],
  ["node:zlib", (f) => gunzipSync(readFileSync(f))],
];

describe.each([
  ["parallel", "stream"],
  ["parallel", "file"],
  ["single", "stream"],
  ["single", "file"],
] as const)("%s gzip of a %s", (mode, kind) => {
  const inputs: Array<[string, () => Uint8Array]> = [
    ["empty input", () => sample(0)],
    ["1 byte", () => sample(1)],
    ["exactly one block", () => sample(BLOCK)],
    ["one block + 1", () => sample(BLOCK + 1)],
    ["many blocks, ragged end", () => sample(5 * BLOCK - 3)],
    ["compressible and incompressible blocks, edges mid-block", mixed],
  ];
  const dir = tempDir("ru-gzip-");
  describe.each(inputs)("%s", (name, make) => {
    const data = make();
    test.each(decoders)("decodes byte-identically with %s", async (_decoder, decode) => {
      const file = join(dir, `${mode}-${kind}-${name.length}-${data.length}.gz`);
      writeFileSync(file, await compress(data, mode, BLOCK, kind));
      expect(Buffer.compare(decode(file), Buffer.from(data))).toBe(0);
    });
  });
});

test("blocks that do not compress are stored, the others still compressed", async () => {
  const random = crypto.getRandomValues(new Uint8Array(4 * BLOCK));
  const stored = await compress(random, "parallel");
  // Stored deflate: 5 bytes per 64 KiB block and 18 per member, nothing more.
  expect(stored.length).toBeLessThanOrEqual(random.length * 1.001);
  expect(Buffer.compare(gunzipSync(stored), Buffer.from(random))).toBe(0);
  const text = sample(4 * BLOCK).map((b, i) => ((i >> 10) % 3 === 0 ? 0x61 + (i % 26) : b));
  expect((await compress(text, "parallel")).length).toBeLessThan(text.length / 4);
});

test("--level 0 stores everything, compressible or not", async () => {
  const text = sample(3 * BLOCK + 5).map((b, i) => ((i >> 10) % 3 === 0 ? 0x61 + (i % 26) : b));
  const gz = await compress(text, "parallel", BLOCK, "stream", 0);
  expect(gz.length).toBeGreaterThanOrEqual(text.length);
  expect(gz.length).toBeLessThanOrEqual(text.length * 1.001);
  expect(Buffer.compare(gunzipSync(gz), Buffer.from(text))).toBe(0);
});

test.each(["stream", "file"] as const)(
  "--level auto: a %s round-trips, each block at a level it chose, and the bytes at each level add up",
  async (kind) => {
    const data = mixed();
    const levels: LevelBytes = new Map();
    const gz = await compress(data, "parallel", BLOCK, kind, "auto", levels);
    expect(Buffer.compare(gunzipSync(gz), Buffer.from(data))).toBe(0);
    const all = [...levels.values()];
    expect(all.reduce((n, l) => n + l.read, 0)).toBe(data.length);
    expect(all.reduce((n, l) => n + l.sent, 0)).toBe(gz.length);
    for (const level of levels.keys()) expect(level).toBeWithin(0, 13);
  },
);

test("level 12, libdeflate's slowest, round-trips", async () => {
  const data = sample(2 * BLOCK + 7);
  expect(Buffer.compare(gunzipSync(await compress(data, "parallel", BLOCK, "stream", 12)), Buffer.from(data))).toBe(0);
});

test("a fixed level's bytes are the same with the levels counted", async () => {
  const data = sample(5 * BLOCK + 3);
  const levels: LevelBytes = new Map();
  const counted = await compress(data, "parallel", BLOCK, "stream", 6, levels);
  expect(Buffer.compare(counted, await compress(data, "parallel", BLOCK, "stream", 6))).toBe(0);
  expect([...levels]).toEqual([[6, { read: data.length, sent: counted.length }]]);
});

test("parallel gzip emits one member per block, in order", async () => {
  const data = sample(3 * BLOCK + 10);
  const gz = await compress(data, "parallel");
  let members = 0;
  for (let i = 0; i + 2 < gz.length; i++) if (gz[i] === 0x1f && gz[i + 1] === 0x8b && gz[i + 2] === 8) members++;
  expect(members).toBeGreaterThanOrEqual(4);
  expect(Buffer.compare(gunzipSync(gz), Buffer.from(data))).toBe(0);
});

test.each(["stream", "file"] as const)("the default block size round-trips a multi-block %s", async (kind) => {
  const data = sample(2 * DEFAULT_BLOCK_SIZE + 12345);
  expect(Buffer.compare(gunzipSync(await compress(data, "parallel", DEFAULT_BLOCK_SIZE, kind)), Buffer.from(data))).toBe(0);
});

test.each([0, 3, 9])("an input error after %i blocks reaches the consumer: the stream never ends cleanly", async (blocks) => {
  let pulls = 0;
  const failing = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulls++ === blocks) c.error(new Error("source broke"));
      else c.enqueue(sample(BLOCK));
    },
  });
  const out = gzip(failing, { mode: "parallel", level: 6, jobs: 2, blockSize: BLOCK });
  await expect(new Response(out).arrayBuffer()).rejects.toThrow("source broke");
});

test("the input is read on while the send side holds a block, up to the blocks in flight", async () => {
  // A pipe (the engine's save) left unread while the send side hashes and sends would stall the save.
  const jobs = 2;
  const inFlight = 2 * jobs + 2;
  let reads = 0;
  let readOn = () => {};
  const readOnce = new Promise<void>((resolve) => (readOn = resolve));
  const endless = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (++reads === inFlight + 1) readOn();
        c.enqueue(new Uint8Array(BLOCK));
      },
    },
    { highWaterMark: 0 },
  );
  const reader = gzip(endless, { mode: "parallel", level: 0, jobs, blockSize: BLOCK }).getReader();
  await reader.read();
  // One block is out and no other asked for: the read that takes its place comes anyway.
  await readOnce;
  expect(reads).toBe(inFlight + 1);
  await reader.cancel();
});

test("a file the Workers cannot read fails the stream with the reason", async () => {
  // A folder opens, but every read of it fails (EISDIR): the error comes back from a Worker.
  const out = gzip({ file: inputs }, { mode: "parallel", level: 6, jobs: 2, blockSize: BLOCK });
  await expect(new Response(out).arrayBuffer()).rejects.toThrow(/reading the image failed: .*EISDIR/);
});

test.each([
  ["read to the end", async (s: ReadableStream<Uint8Array>) => void (await new Response(s).arrayBuffer())],
  [
    "cancelled after one member",
    async (s: ReadableStream<Uint8Array>) => {
      const r = s.getReader();
      await r.read();
      await r.cancel();
    },
  ],
])("a file input leaves no descriptor open when %s", async (_name, consume) => {
  const file = join(inputs, "fds.tar");
  writeFileSync(file, sample(6 * BLOCK));
  // Both sides resolved: with a symlinked TMPDIR the descriptor's path is the real one. Another
  // test's descriptor may close between the listing and the look (one process runs them all).
  const target = (fd: string) => {
    try {
      return realpathSync(`/proc/self/fd/${fd}`);
    } catch {
      return undefined;
    }
  };
  const open = () => readdirSync("/proc/self/fd").filter((fd) => target(fd) === realpathSync(file)).length;
  await consume(gzip({ file }, { mode: "parallel", level: 6, jobs: 2, blockSize: BLOCK }));
  expect(open()).toBe(0);
});

describe("which blocks are worth compressing", () => {
  const text = sample(2 * BLOCK).map((b, i) => ((i >> 10) % 3 === 0 ? 0x61 + (i % 26) : b));
  const random = crypto.getRandomValues(new Uint8Array(2 * BLOCK));
  test.each([
    ["text", true, () => text],
    ["random bytes", false, () => random],
    ["gzip'd text (an already-compressed layer)", false, () => Bun.gzipSync(sample(8 * BLOCK) as Uint8Array<ArrayBuffer>)],
    ["half random, half text", true, () => new Uint8Array(Buffer.concat([random.subarray(0, BLOCK), text.subarray(0, BLOCK)]))],
    [
      "compressed data with small spots that shrink (tar headers at an archive's ends, a stored stretch of text)",
      false,
      () => {
        const block = random.slice();
        block.fill(0, 0, 1024);
        block.fill(0, block.length - 1024);
        block.set(text.subarray(0, 1024), BLOCK / 3);
        return block;
      },
    ],
    ["a block too small to judge", true, () => random.subarray(0, 1000)],
  ] as const)("%s: %p", (_name, expected, block) => {
    expect(worthCompressing(block())).toBe(expected);
  });
});

describe("a block stored in its own buffer", () => {
  const dir = tempDir("ru-stored-");
  // Stored deflate blocks hold at most 65,535 bytes: lengths on either side of their edges.
  describe.each([0, 1, 65_534, 65_535, 65_536, 131_070, 131_071, DEFAULT_BLOCK_SIZE])("%p bytes", (length) => {
    const data = crypto.getRandomValues(new Uint8Array(Math.max(length, 1))).subarray(0, length);
    test.each(decoders)("decodes byte-identically with %s", (_decoder, decode) => {
      const buffer = new Uint8Array(storedSize(length));
      buffer.set(data);
      const member = storeInPlace(buffer, length);
      expect(member.buffer).toBe(buffer.buffer);
      const file = join(dir, `stored-${length}.gz`);
      writeFileSync(file, member);
      expect(Buffer.compare(decode(file), Buffer.from(data))).toBe(0);
    });
  });

  test("a buffer without room for the framing is refused, not overrun", () => {
    expect(() => storeInPlace(new Uint8Array(70_000), 70_000)).toThrow(RangeError);
  });
});
