/**
 * --level auto against fixed levels and against `pigz -p2 -6 | curl`, on links of set
 * rates, all in one run, in turn. The link is a loopback Runtime-API sink that reads the
 * request body through a token bucket: it stops reading when the bucket is empty, so TCP's
 * own backpressure slows the sender, as a real link does. It answers /build with a build
 * ID and /build_status with SUCCESS, so the tool's whole upload is timed.
 *
 *   bun bench/level-auto.ts [--size 1100MiB] [--rates 50,200,1000,0] [--levels auto,0,1,6,9]
 *                           [--sources file,engine] [--cores 2,1] [--runs 3] [--no-pigz] [--cli-save]
 *                           [--baseline PATH] [--stall MB:MS]
 *
 * A rate of 0 is unlimited. --cores 1 runs everything under `taskset -c 0`, a laptop busy
 * with other work. "engine" needs a Docker engine (DOCKER_HOST); the sample is loaded into
 * it once. Each row: median seconds of the runs, bytes sent, the levels auto used, peak
 * RSS; then the ratio of auto to the best fixed level (of the medians, and run by run) and
 * to pigz, per rate, and from the engine, auto's time less `docker save` alone (the same
 * two ways; timed in the same rotation, beside `docker save | curl -T -`, the save sent as
 * it is: the floor of any upload from it). Each measurement is also appended as it ends to
 * bench/.cache/level-auto-<time>.jsonl, so a long run stopped early keeps what it
 * measured. --cli-save adds, from the engine, --level auto saving through the docker CLI
 * (a CLI that cannot say where its engine is), as the tool did before it read the engine's
 * socket itself. Each run is also timed from when its first MB reached the sink: dockerd
 * writes its whole export to disk before the first byte (8 to 17 s here, run to run),
 * which single runs from the engine otherwise compare. --baseline PATH runs every level
 * with that build of the tool too, in the same rotation, and ends with each level's time ÷
 * the baseline's: a change measured against the code it replaces, on the same noisy
 * machine in the same minutes. --stall MB:MS has the sink stop reading for MS once each
 * body passes MB (a lost packet's retransmits, a receiver that paused).
 * Needs: npm run build, pigz, curl, taskset. Timing lives here, never in tests.
 */
import { appendFileSync, chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { option } from "../scripts/option.ts";
import { parseSize, writeSampleImage } from "../scripts/sample-image.ts";
import { BIN, ROOT } from "../test/helpers.ts";
import { measure } from "./measure.ts";
import { median } from "./median.ts";

const argv = process.argv.slice(2);
const list = (name: string, fallback: string) => (option(name) ?? fallback).split(",");
const size = parseSize(option("size") ?? "1100MiB");
const rates = list("rates", "50,200,1000,0").map(Number);
const levels = list("levels", "auto,0,1,6,9");
const sources = list("sources", "file,engine") as Array<"file" | "engine">;
const coreCounts = list("cores", "2,1").map(Number);
const runs = Number(option("runs") ?? 3);
const withPigz = !argv.includes("--no-pigz");
const cliSave = argv.includes("--cli-save");
const baseline = option("baseline");
const [stallMb = 0, stallMs = 0] = (option("stall") ?? "0:0").split(":").map(Number);
const BASELINE = ", baseline build";
const TAG = "runtime-upload-bench-level:latest";
const KEY = "rk_bench_level_auto";

/** A sink that reads request bodies at `mbit` (0: as fast as it can) and answers as a Runtime-API. */
function sink(mbit: number): Promise<{ url: string; received: () => number; firstMb: () => number; close: () => void }> {
  let received = 0;
  /** When the latest request's body passed its first MB: an engine's save writes nothing for its first seconds. */
  let firstMb = 0;
  const bytesPerMs = (mbit * 1e6) / 8 / 1000;
  const server = createServer((socket: Socket) => {
    let head = Buffer.alloc(0);
    let body: ((chunk: Buffer) => void) | undefined;
    let tokens = 0;
    let last = performance.now();
    /** The sink reads nothing before this (a stall), whatever the bucket holds. */
    let heldUntil = 0;
    const resumeAfter = (ms: number) => {
      socket.pause();
      setTimeout(() => {
        const more = heldUntil - performance.now();
        if (more > 0) resumeAfter(more);
        else socket.resume();
      }, ms);
    };
    const answer = (json: object) => {
      const text = JSON.stringify(json);
      socket.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${text.length}\r\nconnection: close\r\n\r\n${text}`);
    };
    socket.on("data", (chunk: Buffer) => {
      if (mbit > 0) {
        const now = performance.now();
        // A bucket of 64 KiB: bursts no larger than a socket's buffer.
        tokens = Math.min(65536, tokens + (now - last) * bytesPerMs) - chunk.byteLength;
        last = now;
        if (tokens < 0) resumeAfter(-tokens / bytesPerMs);
      }
      if (body) return body(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      const [line = "", ...fields] = head.subarray(0, end).toString("latin1").split("\r\n");
      const rest = head.subarray(end + 4);
      if (!line.startsWith("POST")) return answer(line.includes("/build_status") ? { status: "SUCCESS", image: TAG } : {});
      const header = (name: string) =>
        fields
          .find((f) => f.toLowerCase().startsWith(`${name}:`))
          ?.slice(name.length + 1)
          .trim();
      const length = header("content-length");
      let left = length === undefined ? -1 : Number(length);
      let tail = Buffer.alloc(0);
      let got = 0;
      // Chunked bodies end with a zero-size chunk; only its marker is looked for, across chunk edges.
      body = (c: Buffer) => {
        received += c.byteLength;
        const was = got;
        got += c.byteLength;
        if (stallMs > 0 && was < stallMb * 1e6 && got >= stallMb * 1e6) {
          heldUntil = performance.now() + stallMs;
          resumeAfter(stallMs);
        }
        if (was < 1e6 && got >= 1e6) firstMb = performance.now();
        if (left >= 0) {
          left -= c.byteLength;
          if (left <= 0) answer({ build_id: "bench" });
          return;
        }
        tail = Buffer.concat([tail, c]).subarray(-5);
        if (tail.toString("latin1") === "0\r\n\r\n") answer({ build_id: "bench" });
      };
      if (rest.byteLength > 0) body(rest);
    });
    socket.on("error", () => {});
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({ url: `http://127.0.0.1:${port}`, received: () => received, firstMb: () => firstMb, close: () => server.close() });
    }),
  );
}

async function sample(): Promise<string> {
  const dir = join(ROOT, "bench", ".cache");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `real-${size}.tar`);
  if (!existsSync(file)) {
    console.error(`bench: writing ${file}`);
    const { createWriteStream } = await import("node:fs");
    await writeSampleImage(createWriteStream(file), {
      size,
      tag: TAG,
      seed: 1,
      from: ["/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/share"],
    });
  }
  return file;
}

interface Row {
  seconds: number[];
  /** From the first MB of its body at the sink to the end: the run without the engine's silent start. */
  afterFirstMb: number[];
  /** User + system CPU of the pipeline's own processes (not the engine's). */
  cpu: number[];
  sent: number;
  peak: number;
  levels?: string;
}

const file = await sample();
if (sources.includes("engine")) {
  const load = Bun.spawnSync(["docker", "load", "-q", "-i", file]);
  if (load.exitCode !== 0) throw new Error(`docker load failed: ${load.stderr.toString()}`);
}

/** A docker CLI with no context command: the tool then saves through it. */
function cliOnlyPath(): string {
  const dir = join(ROOT, "bench", ".cache", "cli-save");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "docker"), `#!/bin/sh\n[ "$1" = context ] && exit 1\nexec '${Bun.which("docker")}' "$@"\n`);
  chmodSync(join(dir, "docker"), 0o755);
  return `${dir}:${process.env.PATH}`;
}

const rows = new Map<string, Row>();
const log = join(ROOT, "bench", ".cache", `level-auto-${new Date().toISOString().replace(/[:.]/g, "-")}.jsonl`);
console.error(`bench: each measurement goes to ${log}`);
const SAVE_ALONE = "docker save alone";
const SAVE_CURL = "docker save | curl";
const AUTO_CLI = "--level auto, saved by the docker CLI";
for (const rate of rates) {
  const s = await sink(rate);
  for (const cores of coreCounts) {
    const pin = cores === 1 ? ["taskset", "-c", "0"] : [];
    for (const source of sources) {
      const tool = (level: string, bin = BIN) => [
        ...pin,
        bin,
        ...(source === "file" ? ["--input", file] : ["--pull", "never"]),
        TAG,
        "--level",
        level,
        "--json",
        "--poll-interval",
        "0.2",
      ];
      const cases: Array<[string, string[], Record<string, string>?]> = levels.map((level) => [`--level ${level}`, tool(level)]);
      if (baseline) for (const level of levels) cases.push([`--level ${level}${BASELINE}`, tool(level, baseline)]);
      if (source === "engine" && cliSave) cases.push([AUTO_CLI, tool("auto"), { PATH: cliOnlyPath() }]);
      const save = source === "file" ? `cat ${file}` : `docker save ${TAG}`;
      const curl = `curl -sS -f -H "X-API-Key: ${KEY}" -F "image=@-;filename=image.tar.gz" ${s.url}/build`;
      if (withPigz)
        cases.push(["pigz -p2 -6 | curl", [...pin, "bash", "-c", `set -o pipefail; ${save} | pigz -p2 -6 | ${curl} > /dev/null`]]);
      // What the engine takes to write the archive at all: the floor of an upload from it.
      if (source === "engine") {
        cases.push([SAVE_ALONE, [...pin, "bash", "-c", `${save} > /dev/null`]]);
        // The save's bytes sent as they come, nothing checked, hashed or compressed: the floor of any
        // upload from it. Only where the link does not limit: on a slow one it only times the link.
        const raw = `curl -sS -f -X POST -H "X-API-Key: ${KEY}" -T - ${s.url}/build`;
        if (rate === 0) cases.push([SAVE_CURL, [...pin, "bash", "-c", `set -o pipefail; ${save} | ${raw} > /dev/null`]]);
      }
      for (let run = 0; run < runs; run++) {
        for (const [name, cmd, env] of cases) {
          const before = s.received();
          const t0 = performance.now();
          const m = await measure(cmd, { ...process.env, ...env, RUNTIME_API_URL: s.url, RUNTIME_API_KEY: KEY });
          if (m.code !== 0) throw new Error(`${name} failed: ${m.stderr.slice(-500)}`);
          const key = [rate, cores, source, name].join("\t");
          const row = rows.get(key) ?? { seconds: [], afterFirstMb: [], cpu: [], sent: 0, peak: 0 };
          row.seconds.push(m.seconds);
          row.afterFirstMb.push(s.firstMb() > t0 ? m.seconds - (s.firstMb() - t0) / 1000 : Number.NaN);
          row.cpu.push(m.cpuSeconds);
          row.sent = s.received() - before;
          row.peak = Math.max(row.peak, m.peakRss);
          if (name.startsWith("--level auto")) {
            const used = (JSON.parse(m.stdout).levels ?? []) as Array<{ level: number; bytes_read: number }>;
            const total = used.reduce((n, l) => n + l.bytes_read, 0);
            row.levels = used.map((l) => `${l.level}: ${((100 * l.bytes_read) / total).toFixed(0)} %`).join(", ");
          }
          rows.set(key, row);
          appendFileSync(
            log,
            `${JSON.stringify({ rate, cores, source, pipeline: name, run, seconds: m.seconds, after_first_mb: row.afterFirstMb.at(-1), cpu: m.cpuSeconds, sent: row.sent, peak_rss: m.peakRss, levels: name.startsWith("--level auto") ? row.levels : undefined })}\n`,
          );
          console.error(`bench: ${key} ${m.seconds.toFixed(2)} s`);
        }
      }
    }
  }
  s.close();
}

/**
 * Two pipelines compared run by run, then the median: run N of each ran in the same
 * rotation, minutes apart, so an hour that is slow for both (the engine's export took 9 s
 * in one run and 17 s in the next here) moves both alike, where it moves one median only.
 */
const pairs = (a: number[], b: number[], compare: (x: number, y: number) => number) =>
  median(a.slice(0, b.length).map((x, i) => compare(x, b[i] as number)));
console.log(
  "| link | cores | source | pipeline | seconds (median) | runs | after the first MB sent (median) | CPU s (median) | sent MB | peak RSS MiB | levels used |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const [key, r] of rows) {
  const [rate, cores, source, pipeline = ""] = key.split("\t");
  const link = rate === "0" ? "unlimited" : `${rate} Mbit/s`;
  const name = pipeline.replaceAll("|", "\\|");
  console.log(
    `| ${link} | ${cores} | ${source} | ${name} | ${median(r.seconds).toFixed(2)} | ${r.seconds.map((x) => x.toFixed(2)).join(", ")} | ${Number.isNaN(median(r.afterFirstMb)) ? "-" : median(r.afterFirstMb).toFixed(2)} | ${median(r.cpu).toFixed(2)} | ${(r.sent / 1e6).toFixed(1)} | ${(r.peak / 2 ** 20).toFixed(0)} | ${r.levels ?? ""} |`,
  );
}
console.log(
  "\n| link | cores | source | auto ÷ best fixed (which) | the same after the first MB | auto ÷ best, run by run (median) | auto ÷ pigz | auto bytes ÷ level 6's | auto − docker save alone | the same, run by run (median) | auto − docker save \\| curl |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const rate of rates)
  for (const cores of coreCounts)
    for (const source of sources) {
      const at = (name: string) => rows.get([rate, cores, source, name].join("\t"));
      const auto = at("--level auto");
      if (!auto) continue;
      const fixed = levels.filter((l) => l !== "auto").map((l) => [l, at(`--level ${l}`)] as const);
      const [bestLevel, best] = fixed.length
        ? fixed.reduce((a, b) => (median((b[1] as Row).seconds) < median((a[1] as Row).seconds) ? b : a))
        : ["-", undefined];
      const pigz = at("pigz -p2 -6 | curl");
      const six = at("--level 6");
      const alone = at(SAVE_ALONE);
      const raw = at(SAVE_CURL);
      console.log(
        `| ${rate === 0 ? "unlimited" : `${rate} Mbit/s`} | ${cores} | ${source} | ${best ? `${(median(auto.seconds) / median(best.seconds)).toFixed(2)} (${bestLevel}) | ${(median(auto.afterFirstMb) / median(best.afterFirstMb)).toFixed(2)} | ${pairs(auto.seconds, best.seconds, (a, b) => a / b).toFixed(2)}` : "- | - | -"} | ${pigz ? (median(auto.seconds) / median(pigz.seconds)).toFixed(2) : "-"} | ${six ? (auto.sent / six.sent).toFixed(3) : "-"} | ${alone ? `${(median(auto.seconds) - median(alone.seconds)).toFixed(2)} s | ${pairs(auto.seconds, alone.seconds, (a, b) => a - b).toFixed(2)} s` : "- | -"} | ${raw ? `${(median(auto.seconds) - median(raw.seconds)).toFixed(2)} s` : "-"} |`,
      );
    }

if (baseline) {
  console.log("\n| link | cores | source | pipeline | this build ÷ baseline | the same after the first MB |");
  console.log("|---|---|---|---|---|---|");
  for (const [key, r] of rows) {
    const base = rows.get(`${key}${BASELINE}`);
    if (!base) continue;
    const [rate, cores, source, pipeline] = key.split("\t");
    console.log(
      `| ${rate === "0" ? "unlimited" : `${rate} Mbit/s`} | ${cores} | ${source} | ${pipeline} | ${(median(r.seconds) / median(base.seconds)).toFixed(2)} | ${(median(r.afterFirstMb) / median(base.afterFirstMb)).toFixed(2)} |`,
    );
  }
}
