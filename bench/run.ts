/**
 * Runs the benchmark of issue 4: one archive, one local server that discards what it
 * receives, and in the same run
 *   a) runtime-upload (--input, and the docker path where an engine answers)
 *   b) pigz -p$(nproc) -6 | curl -F context=@-   (what users script today)
 *   c) the original uploader's method (bench/original.py: all in memory, gzip -9)
 *   d) libdeflate on all cores, compression alone (bench/compress-only.ts: the machine's limit)
 * and prints MB/s of uncompressed input, CPU seconds, compressed size, peak RSS and the ratios.
 *
 *   bun bench/run.ts [--size 1GiB] [--archive FILE] [--synthetic] [--runs 3] [--only a,b,d] [--verify]
 *                    [--baseline OLD_BIN]   adds a0 (and a0-stdin): the same upload by another build, for a/a0
 *                    [--oci]                the sample as an OCI archive with gzip'd layers (skopeo), as a
 *                                           containerd-store `docker save` or a skopeo/crane/buildx layout holds it
 *                    [--context]            adds a-ctx and a-docker-ctx: --context dockerfile from the file and from
 *                                           the engine (two docker saves), and e) docker create + docker export, the
 *                                           other way to get a flat root filesystem from the engine, for a/e
 *
 * a-stdin is a) reading the archive from stdin, the path where every byte crosses the main thread.
 *
 * Needs: npm run build, pigz, curl, python3. Timing lives here, never in tests.
 */
import { existsSync, mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { option } from "../scripts/option.ts";
import { parseSize, writeSampleImage } from "../scripts/sample-image.ts";
import { BIN, KEY, ROOT, sha256File, startServerProcess } from "../test/helpers.ts";
import { type Measured, measure } from "./measure.ts";

const argv = process.argv.slice(2);
const has = (name: string) => argv.includes(`--${name}`);

const REAL_ROOTS = ["/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/share"];
const TAG = "runtime-upload-bench:latest";
const size = parseSize(option("size") ?? "1GiB");
const runs = Number(option("runs") ?? 1);
const only = new Set((option("only") ?? "a,a-docker,b,c,d").split(","));
const baseline = option("baseline");
if (baseline) for (const id of ["a0", ...(only.has("a-stdin") ? ["a0-stdin"] : [])]) only.add(id);
if (has("context")) for (const id of ["a-ctx", "a-docker-ctx", "e"]) only.add(id);
const jobs = availableParallelism();

async function archivePath(): Promise<string> {
  const given = option("archive");
  if (given) return given;
  const dir = join(ROOT, "bench", ".cache");
  mkdirSync(dir, { recursive: true });
  const synthetic = has("synthetic");
  const file = join(dir, `${synthetic ? "synthetic" : "real"}-${size}.tar`);
  if (!existsSync(file)) {
    console.error(`bench: writing ${file} (${synthetic ? "synthetic" : `files of ${REAL_ROOTS.join(", ")}`})`);
    const { createWriteStream } = await import("node:fs");
    await writeSampleImage(createWriteStream(file), { size, tag: TAG, seed: 1, from: synthetic ? undefined : REAL_ROOTS });
  }
  return file;
}

function dockerUp(): boolean {
  return Bun.spawnSync(["docker", "version", "--format", "{{.Server.Version}}"], { stdout: "pipe", stderr: "pipe" }).exitCode === 0;
}

/** The same image as a containerd store or skopeo keeps it: an OCI archive whose layer blobs are gzip already. */
async function ociArchive(dockerArchive: string): Promise<string> {
  const file = dockerArchive.replace(/\.tar$/, "-oci.tar");
  if (!existsSync(file)) {
    console.error(`bench: skopeo copy to ${file}`);
    const r = Bun.spawnSync(["skopeo", "copy", "--quiet", `docker-archive:${dockerArchive}`, `oci-archive:${file}:bench`], {
      stderr: "inherit",
    });
    if (r.exitCode !== 0) throw new Error("skopeo copy failed: --oci needs skopeo");
  }
  return file;
}

const archive = has("oci") ? await ociArchive(await archivePath()) : await archivePath();
const bytesIn = Bun.file(archive).size;

const server = await startServerProcess(["--discard", "--statuses", "SUCCESS"]);
const env = { ...process.env, RUNTIME_API_URL: server.url, RUNTIME_API_KEY: KEY, BENCH_KEY: KEY };
const curlForm = `-F target_image=bench:img -F "context=@-;filename=image.tar.gz;type=application/gzip"`;

type Method = { id: string; label: string; cmd: () => string[] };
const upload = (bin: string) => [bin, "--input", archive, "bench:img", "--quiet", "--poll-interval", "1"];
const fromStdin = (bin: string) => ["sh", "-c", `'${bin}' --input - bench:img --quiet --poll-interval 1 < '${archive}'`];
const methods: Method[] = [
  { id: "a", label: "a) runtime-upload --input", cmd: () => upload(BIN) },
  { id: "a0", label: `a0) ${baseline} --input`, cmd: () => upload(baseline as string) },
  { id: "a-stdin", label: "a) runtime-upload --input - (stdin)", cmd: () => fromStdin(BIN) },
  { id: "a0-stdin", label: `a0) ${baseline} --input - (stdin)`, cmd: () => fromStdin(baseline as string) },
  { id: "a-docker", label: "a) runtime-upload (docker save)", cmd: () => [BIN, TAG, "--quiet", "--poll-interval", "1"] },
  { id: "a-ctx", label: "a) runtime-upload --input --context dockerfile", cmd: () => [...upload(BIN), "--context", "dockerfile"] },
  {
    id: "a-docker-ctx",
    label: "a) runtime-upload --context dockerfile (two docker saves)",
    cmd: () => [BIN, TAG, "--quiet", "--poll-interval", "1", "--context", "dockerfile"],
  },
  {
    id: "e",
    label: "e) docker create + docker export > /dev/null, no upload",
    cmd: () => ["sh", "-c", `id=$(docker create ${TAG} x) && docker export "$id" > /dev/null; s=$?; docker rm "$id" > /dev/null; exit $s`],
  },
  {
    id: "b",
    label: `b) pigz -p${jobs} -6 | curl`,
    cmd: () => ["sh", "-c", `pigz -p${jobs} -6 < '${archive}' | curl -sS -f -H "X-API-Key: $BENCH_KEY" ${curlForm} ${server.url}/build`],
  },
  {
    id: "c",
    label: "c) original: all in memory, gzip -9",
    cmd: () => ["python3", join(ROOT, "bench", "original.py"), archive, server.url, KEY, "bench:img"],
  },
  {
    id: "d",
    label: `d) libdeflate -6 on ${jobs} cores, no upload`,
    cmd: () => [process.execPath, join(ROOT, "bench", "compress-only.ts"), archive],
  },
];

if (["a-docker", "a-docker-ctx", "e"].some((id) => only.has(id))) {
  if (dockerUp()) {
    console.error("bench: docker load of the archive for the docker path");
    Bun.spawnSync(["docker", "load", "-i", archive], { stdout: "ignore", stderr: "inherit" });
  } else {
    for (const id of ["a-docker", "a-docker-ctx", "e"]) only.delete(id);
  }
}
// Let the load's writes reach the disk, then start every method from a warm page cache:
// all of them read the same file, and none should pay for another's I/O.
Bun.spawnSync(["sync"]);
for await (const _ of Bun.file(archive).stream()) {
  // read and drop
}

interface Result {
  m: Method;
  runs: Array<Measured & { bytesOut: number }>;
}
const results: Result[] = methods.filter((m) => only.has(m.id)).map((m) => ({ m, runs: [] }));

// a and d run back to back, in turns a-first and d-first (ABBA): the machine's drift
// over minutes then weighs on both sides of a/d alike.
const schedule = ["a", "a0", "d", "a-stdin", "a0-stdin", "a-docker", "a-ctx", "a-docker-ctx", "e", "b", "c"].flatMap((id) =>
  results.filter((x) => x.m.id === id),
);
for (let r = 0; r < runs; r++) {
  for (const res of r % 2 === 0 ? schedule : [...schedule].reverse()) {
    await server.reset();
    await server.configure({ statuses: ["SUCCESS"] });
    const run = await measure(res.m.cmd(), env);
    if (run.code !== 0) throw new Error(`${res.m.label} failed (${run.code}): ${run.stderr}`);
    const bytesOut =
      res.m.id === "e" ? 0 : res.m.id === "d" ? JSON.parse(run.stdout).bytesOut : ((await server.state()).uploads[0]?.gzipBytes ?? 0);
    res.runs.push({ ...run, bytesOut });
    console.error(
      `bench: ${res.m.label}: ${run.seconds.toFixed(1)} s, ${run.cpuSeconds.toFixed(1)} s CPU, ${(run.peakRss / 1048576).toFixed(0)} MiB (anon ${(run.peakAnon / 1048576).toFixed(0)})`,
    );
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const mbps = (res: Result) => bytesIn / 1e6 / median(res.runs.map((x) => x.seconds));
const find = (id: string) => results.find((x) => x.m.id === id);

console.log(`\nArchive: ${archive} (${(bytesIn / 1048576).toFixed(0)} MiB), ${jobs} cores, median of ${runs} run(s)\n`);
console.log("| method | MB/s (input) | CPU s | compressed MiB | peak RSS MiB | peak anon MiB |");
console.log("|---|---|---|---|---|---|");
for (const res of results) {
  const out = median(res.runs.map((x) => x.bytesOut));
  const rss = Math.max(...res.runs.map((x) => x.peakRss));
  const anon = Math.max(...res.runs.map((x) => x.peakAnon));
  const cpu = median(res.runs.map((x) => x.cpuSeconds));
  console.log(
    `| ${res.m.label.replaceAll("|", "\\|")} | ${mbps(res).toFixed(1)} | ${cpu.toFixed(1)} | ${(out / 1048576).toFixed(1)} | ${(rss / 1048576).toFixed(0)} | ${(anon / 1048576).toFixed(0)} |`,
  );
}
/**
 * Each run measured both sides minutes apart: the median of per-run ratios cancels the
 * slow drifts of a shared machine better than a ratio of medians.
 */
function printRatio(name: string, mine: Result, other: Result): void {
  const perRun = mine.runs.map((x, i) => (other.runs[i]?.seconds ?? Number.NaN) / x.seconds);
  console.log(`${name} throughput: ${median(perRun).toFixed(2)} (per run: ${perRun.map((r) => r.toFixed(2)).join(", ")})`);
}

const a = find("a");
if (a) {
  console.log("");
  for (const id of ["b", "c", "d", "a0"]) {
    const other = find(id);
    if (other) printRatio(`a/${id}`, a, other);
  }
  const ctx = find("a-ctx");
  if (ctx) printRatio("a-ctx/a (dockerfile context vs image, from the file)", ctx, a);
  const [dctx, dimg, e] = [find("a-docker-ctx"), find("a-docker"), find("e")];
  if (dctx && dimg) printRatio("a-docker-ctx/a-docker (dockerfile context vs image, from the engine)", dctx, dimg);
  if (dctx && e) printRatio("a-docker-ctx/e (two saves + upload vs one export alone)", dctx, e);
  for (const id of ["b", "a0"]) {
    const other = find(id);
    if (other)
      console.log(
        `a/${id} compressed size: ${(median(a.runs.map((x) => x.bytesOut)) / median(other.runs.map((x) => x.bytesOut))).toFixed(4)}`,
      );
  }
}
const [s, s0] = [find("a-stdin"), find("a0-stdin")];
if (s && s0) printRatio("a-stdin/a0-stdin", s, s0);

if (has("verify")) {
  // The discarding server proves nothing about content: check once against the verifying one.
  const verifier = await startServerProcess();
  const want = await sha256File(archive);
  for (const id of ["a", "b"]) {
    const m = methods.find((x) => x.id === id) as Method;
    const cmd = m.cmd().map((x) => x.replaceAll(server.url, verifier.url));
    await measure(cmd, { ...env, RUNTIME_API_URL: verifier.url });
    const got = (await verifier.state()).uploads.at(-1)?.tarSha256;
    console.log(`verify ${id}: ${got === want ? "byte-identical" : `MISMATCH ${got} != ${want}`}`);
  }
  verifier.stop();
}
server.stop();
