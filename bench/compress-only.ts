/**
 * (d) The machine's limit: every core compresses its own share of 2 MiB blocks with
 * libdeflate, reading with pread, no ordering, no network. Prints one JSON line.
 *   bun bench/compress-only.ts FILE [--jobs N] [--level 6] [--block-mib 2]
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { availableParallelism } from "node:os";
import { option } from "../scripts/option.ts";

if (Bun.isMainThread) {
  const file = process.argv[2] as string;
  const jobs = Number(option("jobs") ?? availableParallelism());
  const level = Number(option("level") ?? 6);
  const block = Number(option("block-mib") ?? 2) * 1024 * 1024;
  const size = fstatSync(openSync(file, "r")).size;
  const started = performance.now();
  const outs = await Promise.all(
    Array.from({ length: jobs }, (_, k) => {
      const w = new Worker(import.meta.path, { workerData: { file, k, jobs, level, block, size } } as WorkerOptions);
      return new Promise<number>((resolve) => {
        w.onmessage = (e) => {
          resolve(e.data as number);
          w.terminate();
        };
      });
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ seconds, bytesIn: size, bytesOut: outs.reduce((a, b) => a + b, 0) }));
} else {
  const { file, k, jobs, level, block, size } = (await import("node:worker_threads")).workerData;
  const fd = openSync(file, "r");
  const buf = new Uint8Array(block);
  let out = 0;
  for (let i = k; i * block < size; i += jobs) {
    const n = readSync(fd, buf, 0, block, i * block);
    out += Bun.gzipSync(buf.subarray(0, n), { library: "libdeflate", level }).byteLength;
  }
  closeSync(fd);
  postMessage(out);
}
