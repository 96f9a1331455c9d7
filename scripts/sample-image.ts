/**
 * Writes a deterministic `docker save` archive (manifest.json, config, layer tars) whose
 * layers mix text, executable-like and already-compressed files, so compression numbers
 * mean something. `docker load` accepts it.
 *
 *   bun scripts/sample-image.ts --size 64MiB --out sample.tar [--tag sample:latest] [--seed 1] [--from /usr/bin,/usr/lib]
 */
import { createWriteStream, lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { pack } from "tar-stream";
import { option } from "./option.ts";

const MiB = 1024 * 1024;
const FILE_SIZE = 256 * 1024;
const POOL = 8 * MiB;

/** xorshift32: tiny, fast and the same everywhere, which is all a fixture needs. */
function prng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function makePools(seed: number) {
  const next = prng(seed);
  const random = new Uint8Array(POOL);
  const words = new Uint32Array(random.buffer);
  for (let i = 0; i < words.length; i++) words[i] = next();
  const vocab =
    "the image layer build runtime kubernetes pod container upload server client stream error retry status tag config manifest digest".split(
      " ",
    );
  const text = Buffer.alloc(POOL);
  for (let at = 0; at < POOL; ) {
    const w = vocab[next() % vocab.length] as string;
    at += text.write(next() % 11 === 0 ? `${w}\n` : `${w} `, at, "latin1");
  }
  // Executable-like: a small set of "instructions" with varying operands.
  const code = new Uint8Array(POOL);
  const ops = Array.from({ length: 64 }, () => random.subarray(next() % (POOL - 8), 0).slice(0, 8));
  for (let at = 0; at + 8 <= POOL; at += 8) {
    code.set(ops[next() % ops.length] as Uint8Array, at);
    code[at + (next() % 8)] = next() & 0xff;
  }
  return { random, text: new Uint8Array(text), code, next };
}

export interface SampleOptions {
  size: number;
  tag: string;
  seed: number;
  /** Take file contents from these folders (sorted walk, cycled to reach size) instead of synthetic pools. */
  from?: string[];
}

interface LayerFile {
  name: string;
  size: number;
  body: () => Uint8Array | Promise<Uint8Array>;
}

/** Synthetic files: executable-like, text and incompressible, in a fixed rotation. */
function syntheticFiles(o: SampleOptions): LayerFile[] {
  const { random, text, code, next } = makePools(o.seed);
  const kinds = [code, code, text, text, random] as const;
  const files = Math.max(1, Math.ceil(o.size / FILE_SIZE));
  return Array.from({ length: files }, (_, f) => ({
    name: `usr/lib/sample/f${f}.bin`,
    size: FILE_SIZE,
    body: () => {
      const pool = kinds[f % kinds.length] as Uint8Array;
      const body = new Uint8Array(FILE_SIZE);
      for (let at = 0; at < FILE_SIZE; at += 4096) {
        const from = next() % (POOL - 4096);
        body.set(pool.subarray(from, from + 4096), at);
      }
      return body;
    },
  }));
}

/** Real files (ELF binaries, libraries, text, gzip'd docs), walked in sorted order. */
function realFiles(roots: string[], size: number): LayerFile[] {
  const found: Array<{ path: string; size: number }> = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const path = join(dir, n);
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(path);
      // Short names keep every tar header one block; huge files would dominate the mix.
      else if (st?.isFile() && st.size > 0 && st.size < 32 * MiB && /^[!-~]{1,80}$/.test(path)) found.push({ path, size: st.size });
    }
  };
  for (const r of roots) walk(r);
  if (found.length === 0) throw new Error(`no files under ${roots.join(", ")}`);
  const out: LayerFile[] = [];
  for (let total = 0, i = 0; total < size; i++) {
    const f = found[i % found.length] as { path: string; size: number };
    const cycle = Math.floor(i / found.length);
    out.push({ name: `c${cycle}${f.path}`, size: f.size, body: () => readFileSync(f.path) });
    total += f.size;
  }
  return out;
}

const blocks = (n: number) => Math.ceil(n / 512) * 512;

/** Streams the archive into `out`; resolves when it is fully written. */
export async function writeSampleImage(out: Writable, o: SampleOptions): Promise<void> {
  const files = o.from ? realFiles(o.from, o.size) : syntheticFiles(o);
  const layerSize = files.reduce((sum, f) => sum + 512 + blocks(f.size), 1024);
  const outer = pack();
  const done = new Promise<void>((resolve, reject) => {
    out.on("finish", resolve);
    out.on("error", reject);
    outer.on("error", reject);
  });
  outer.pipe(out);

  const hasher = new Bun.CryptoHasher("sha256");
  const entry = outer.entry({ name: "layer1/layer.tar", size: layerSize, mtime: new Date(0) });
  const inner = pack();
  let drained: Promise<void> = Promise.resolve();
  inner.on("data", (c: unknown) => {
    if (!(c instanceof Uint8Array)) return;
    hasher.update(c);
    if (!entry.write(c)) {
      inner.pause();
      drained = new Promise((r) =>
        entry.once("drain", () => {
          inner.resume();
          r();
        }),
      );
    }
  });
  const innerDone = new Promise<void>((r) => inner.on("end", () => r()));
  for (const f of files) {
    const body = await f.body();
    if (body.byteLength !== f.size) throw new Error(`${f.name} changed size while the archive was written`);
    await new Promise<void>((resolve, reject) =>
      inner.entry({ name: f.name, size: body.byteLength, mtime: new Date(0) }, Buffer.from(body), (e) => (e ? reject(e) : resolve())),
    );
    // Bounded memory: the next file waits until the output has taken this one.
    await drained;
  }
  inner.finalize();
  await innerDone;
  await new Promise<void>((r) => entry.end(r));
  const diffId = `sha256:${hasher.digest("hex")}`;
  const config = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    created: "2026-01-01T00:00:00Z",
    config: { Cmd: ["/bin/true"] },
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [{ created: "2026-01-01T00:00:00Z", created_by: "runtime-upload sample-image" }],
  });
  const configName = `${new Bun.CryptoHasher("sha256").update(config).digest("hex")}.json`;
  outer.entry({ name: configName, mtime: new Date(0) }, config);
  outer.entry(
    { name: "manifest.json", mtime: new Date(0) },
    JSON.stringify([{ Config: configName, RepoTags: [o.tag], Layers: ["layer1/layer.tar"] }]),
  );
  outer.finalize();
  await done;
}

export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|m|g)?i?b?$/i.exec(s.trim());
  if (!m) throw new Error(`not a size: ${s}`);
  const unit = { k: 1024, m: MiB, g: 1024 * MiB }[(m[2] ?? "").toLowerCase() as "k"] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

if (import.meta.main) {
  const outPath = option("out") ?? "-";
  const out = outPath === "-" ? (process.stdout as unknown as Writable) : createWriteStream(outPath);
  const from = option("from");
  await writeSampleImage(out, {
    size: parseSize(option("size") ?? "64MiB"),
    tag: option("tag") ?? "sample:latest",
    seed: Number(option("seed") ?? 1),
    from: from ? from.split(",") : undefined,
  });
}
