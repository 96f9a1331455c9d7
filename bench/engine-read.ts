/**
 * Reading the engine's save (`GET /images/get`, what `docker save` asks for) two ways:
 * Bun's fetch, and socketGet (src/source/socket-get.ts), each in a process of its own on
 * one core (`taskset -c 0`), in turn. Each run's CPU, its time from the first byte
 * (dockerd writes its whole export before it answers: that part is the engine's) and the
 * chunks it came in (each is a step for every stage after the read), then the medians and
 * socketGet's ÷ fetch's. The read alone: the whole pipeline's difference is
 * `bench/level-auto.ts --sources engine --baseline`.
 *
 *   DOCKER_HOST=unix:///PATH bun bench/engine-read.ts [--image runtime-upload-bench-level:latest] [--runs 5]
 *
 * Needs: a Docker engine on a unix socket holding the image. Timing lives here, never in tests.
 */
import { option } from "../scripts/option.ts";
import { socketGet } from "../src/source/socket-get.ts";
import { median } from "./median.ts";

const WAYS = ["fetch", "socketGet"] as const;
type Way = (typeof WAYS)[number];

const host = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
if (!host.startsWith("unix://")) throw new Error("DOCKER_HOST must be a unix:// socket");
const sock = host.slice("unix://".length);
const image = option("image") ?? "runtime-upload-bench-level:latest";
const target = `/images/get?names=${encodeURIComponent(image)}`;

interface Run {
  bytes: number;
  chunks: number;
  afterFirst: number;
  cpu: number;
}

/** One read of the whole export this way, in this process: bytes, seconds from the first byte, CPU seconds. */
async function readOnce(way: Way): Promise<Run> {
  const cpu0 = process.cpuUsage();
  let first = 0;
  let bytes = 0;
  let chunks = 0;
  let read: () => Promise<{ done: boolean; value?: Uint8Array }>;
  if (way === "fetch") {
    const res = await fetch(`http://engine${target}`, { unix: sock, timeout: false });
    if (!res.ok || !res.body) throw new Error(`the engine answered ${res.status}`);
    const reader = res.body.getReader();
    read = () => reader.read();
  } else {
    const answer = await socketGet(sock, target, AbortSignal.timeout(600_000));
    if (answer?.status !== 200) throw new Error(`the engine answered ${answer?.status ?? "nothing"}`);
    read = () => answer.body.read();
  }
  for (;;) {
    const { done, value } = await read();
    if (done) break;
    first ||= performance.now();
    bytes += value?.byteLength ?? 0;
    chunks++;
  }
  const cpu = process.cpuUsage(cpu0);
  return { bytes, chunks, afterFirst: (performance.now() - first) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
}

const one = option("one") as Way | undefined;
if (one) {
  console.log(JSON.stringify(await readOnce(one)));
  process.exit(0);
}

const runs = Number(option("runs") ?? 5);
const results = new Map<Way, Run[]>(WAYS.map((w) => [w, []]));
for (let run = 0; run < runs; run++) {
  for (const way of WAYS) {
    const p = Bun.spawnSync(["taskset", "-c", "0", process.execPath, import.meta.path, "--one", way], { stderr: "inherit" });
    if (p.exitCode !== 0) throw new Error(`the ${way} run failed`);
    const r: Run = JSON.parse(p.stdout.toString());
    results.get(way)?.push(r);
    console.log(
      `${way}\trun ${run + 1}\t${(r.bytes / 1e6).toFixed(1)} MB\t${r.afterFirst.toFixed(2)} s from the first byte\tCPU ${r.cpu.toFixed(2)} s\t${r.chunks} chunks`,
    );
  }
}
const of = (way: Way, key: "afterFirst" | "cpu" | "chunks") => median((results.get(way) ?? []).map((r) => r[key]));
for (const way of WAYS)
  console.log(
    `${way}\tmedian ${of(way, "afterFirst").toFixed(2)} s from the first byte\tCPU ${of(way, "cpu").toFixed(2)} s\t${of(way, "chunks")} chunks`,
  );
console.log(
  `socketGet ÷ fetch: ${(of("socketGet", "afterFirst") / of("fetch", "afterFirst")).toFixed(2)} of the time, ${(of("socketGet", "cpu") / of("fetch", "cpu")).toFixed(2)} of the CPU`,
);
