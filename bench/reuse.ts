/**
 * Layer reuse, measured in one run: a large image (the sample generator's layer, 1.1 GB by
 * default) under a ~20 MiB top layer that changes from v1 to v2 (and v3), sent with
 * --context dockerfile --form openhands to the test server's builder mode (classic
 * builder, the loopback docker-registry), against the anchors a user would compare with:
 *   - bytes the server received for v2 and for v2 again, against gzip -6 of v2's top layer;
 *   - the upload phase (from the start until /build has answered: the "Build initiated"
 *     line, every question to the server included) of v2 with reuse, of v2 whole
 *     (--reuse never), and `docker push` of a changed top layer (v4) after v1 to the same registry;
 *   - from the engine (v3, v5, v6: three images on the same base, each with its own top
 *     layer): the upload phase against `docker save` of the same image, run in turn, medians;
 *   - end to end, the server's builds included;
 *   - with --baseline OLD_BIN: the v2 upload phase from a file and from the engine (v3), and
 *     a flattened dry run of v2 (--reuse never), by this build and by OLD_BIN in turn, --runs
 *     each (3), against a server that builds nothing and has the base below the top layer
 *     (the upload phase ends when /build answers: no build is waited for), and forgets what
 *     it built before each run, so every run sends the top layer.
 *
 *   RU_TEST_REGISTRY=127.0.0.1:PORT bun bench/reuse.ts [--size 1100MiB] [--top 20MiB] [--baseline OLD_BIN [--runs N] [--baseline-only]]
 *
 * --baseline-only skips the table: each case then runs once untimed first, so the first
 * timed run reads from the page cache as the others do.
 *
 * Needs: a Docker engine (DOCKER_HOST) whose registry mirror is that registry (.ci/run's
 * start_registry and start_dockerd), and npm run build. Timing lives here, never in tests.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { option } from "../scripts/option.ts";
import { parseSize, writeSampleImage } from "../scripts/sample-image.ts";
import { baseName, chainIds } from "../src/context/base-images.ts";
import { deleteFromRegistry } from "../test/builder.ts";
import { apiEnv, BIN, ROOT, startServerProcess, tempDir } from "../test/helpers.ts";
import { median } from "./median.ts";

const argv = process.argv.slice(2);
const size = parseSize(option("size") ?? "1100MiB");
const top = parseSize(option("top") ?? "20MiB");
const registry = process.env.RU_TEST_REGISTRY ?? "";
if (!registry) throw new Error("RU_TEST_REGISTRY must name the loopback registry (see .ci/run)");
const MiB = 1024 * 1024;
const work = tempDir("ru-bench-reuse-");
const log = (s: string) => console.error(`bench: ${s}`);

function sh(cmd: string[], o: { env?: Record<string, string>; cwd?: string } = {}): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", cwd: o.cwd, env: { ...process.env, ...o.env } });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

async function timed(cmd: string[]): Promise<number> {
  const t = performance.now();
  const p = Bun.spawn(cmd, { stdout: "ignore", stderr: "ignore" });
  if ((await p.exited) !== 0) throw new Error(`${cmd.join(" ")} failed`);
  return (performance.now() - t) / 1000;
}

/** The tool's run: when /build answered (the upload phase) and when it ended. */
async function upload(args: string[], env: Record<string, string>, bin = BIN): Promise<{ phase: number; total: number; stderr: string }> {
  const t = performance.now();
  const p = Bun.spawn([bin, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  let stderr = "";
  let phase = Number.NaN;
  let answered = 0;
  for await (const c of p.stderr as ReadableStream<Uint8Array>) {
    stderr += new TextDecoder().decode(c);
    // The last /build answer of the run is the image's own (a seed build's comes first).
    const count = stderr.match(/Build initiated with ID/g)?.length ?? 0;
    if (count > answered) {
      answered = count;
      phase = (performance.now() - t) / 1000;
    }
  }
  if ((await p.exited) !== 0) throw new Error(`${args.join(" ")}:\n${stderr}`);
  return { phase, total: (performance.now() - t) / 1000, stderr };
}

/** A top layer's file: different bytes per version, compressible in part like real code. */
function topFile(seed: number): Uint8Array {
  const out = new Uint8Array(top);
  let x = seed;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const v = i % 8192 < 4096 ? x & 0x3f3f3f3f : x;
    out[i] = v & 0xff;
    out[i + 1] = (v >>> 8) & 0xff;
    out[i + 2] = (v >>> 16) & 0xff;
    out[i + 3] = (v >>> 24) & 0xff;
  }
  return out;
}

const cache = join(ROOT, "bench", ".cache");
mkdirSync(cache, { recursive: true });
const sample = join(cache, `reuse-sample-${size}.tar`);
if (!existsSync(sample)) {
  log(`writing ${sample}`);
  await writeSampleImage((await import("node:fs")).createWriteStream(sample), { size, tag: "ru-bench-base:1", seed: 7 });
}
sh(["docker", "load", "-q", "-i", sample]);
const tags: Record<string, string> = {};
for (const [v, seed] of [
  ["v1", 11],
  ["v2", 22],
  ["v3", 33],
  ["v4", 44],
  ["v5", 55],
  ["v6", 66],
] as const) {
  const dir = join(work, v);
  mkdirSync(dir);
  writeFileSync(join(dir, "top.bin"), topFile(seed));
  writeFileSync(join(dir, "Dockerfile"), `FROM ru-bench-base:1\nCOPY top.bin /app/top.bin\nENV VERSION=${v}\nCMD ["/app/top.bin"]\n`);
  tags[v] = `ru-bench-reuse-${process.pid}:${v}`;
  sh(["docker", "build", "-q", "-t", tags[v] as string, dir], { env: { DOCKER_BUILDKIT: "0" } });
}
const saved = (v: string) => {
  const file = join(work, `${v}.tar`);
  sh(["docker", "save", "-o", file, tags[v] as string]);
  return file;
};
const [v1, v2] = [saved("v1"), saved("v2")];
// The changed layer: the manifest's last; gzip -6 of its tar is what a registry push of it costs.
const [manifest] = JSON.parse(sh(["tar", "-xOf", v2, "manifest.json"])) as Array<{ Layers: string[] }>;
const topLayerGzip = gzipSync(Bun.spawnSync(["tar", "-xOf", v2, manifest?.Layers.at(-1) as string]).stdout, { level: 6 }).byteLength;

const baseline = option("baseline");
const baselineOnly = argv.includes("--baseline-only");
const runs = Number(option("runs") ?? 3);

if (!baselineOnly) {
  // A first upload must find no base: bases an earlier run of this bench left are deleted.
  const diffIds = JSON.parse(sh(["docker", "image", "inspect", "--format", "{{json .RootFS.Layers}}", tags.v1 as string])) as string[];
  for (const chain of chainIds(diffIds).slice(0, -1)) {
    await deleteFromRegistry(registry, baseName(`${registry}/runtime`, chain)).catch(() => {});
  }
}

const server = await startServerProcess(["--statuses", "SUCCESS"]);
await server.configure({ build: "classic", registry });
const env = apiEnv(server);
const args = (input: string[], local: string, more: string[] = []) => [
  "--context",
  "dockerfile",
  "--form",
  "openhands",
  ...input,
  local,
  "--poll-interval",
  "0.2",
  ...more,
];
const received = async (from: number) => (await server.state()).uploads.slice(from).map((u) => u.gzipBytes);

const rows: string[] = [];
/** One upload as a row: the part after its last /build answer is the server's (build, pull of the base, push) and our polling. */
async function measured(label: string, cmd: string[], kib = false) {
  const before = (await server.state()).uploads.length;
  const run = await upload(cmd, env);
  const sent = await received(before);
  const bytes = sent.map((b) => (kib ? `${(b / 1024).toFixed(1)} KiB` : `${(b / MiB).toFixed(2)} MiB`)).join(" + ");
  rows.push(`| ${label} | ${run.phase.toFixed(2)} | ${run.total.toFixed(1)} | ${(run.total - run.phase).toFixed(1)} | ${bytes} |`);
  return { ...run, sent };
}
/** The table: first upload, reuse, whole, from the engine, against docker save and docker push. */
async function mainTable(): Promise<void> {
  await measured("v1, first upload (builds the base)", args(["--input", v1], tags.v1 as string));
  const second = await measured("v2, reuse", args(["--input", v2], tags.v2 as string));
  const sentV2 = second.sent;
  const sentAgain = (await measured("v2 again", args(["--input", v2], tags.v2 as string), true)).sent;
  const whole = await measured("v2 whole (--reuse never)", args(["--input", v2], tags.v2 as string, ["--reuse", "never"]));
  // From the engine, each upload beside a save of the same image, in turn, the order alternating:
  // these machines are noisy. One save first, untimed: the first read of the base layer's files
  // since they were written comes from disk, whoever reads them.
  await timed(["sh", "-c", `docker save ${tags.v3} > /dev/null`]);
  const enginePairs: Array<{ phase: number; save: number }> = [];
  for (const [i, v] of ["v3", "v5", "v6"].entries()) {
    const saving = () => timed(["sh", "-c", `docker save ${tags[v]} > /dev/null`]);
    const before = i % 2 ? await saving() : undefined;
    const engine = await measured(`${v} from the engine, reuse`, args(["--pull", "never"], tags[v] as string));
    enginePairs.push({ phase: engine.phase, save: before ?? (await saving()) });
  }
  const enginePhase = median(enginePairs.map((p) => p.phase));
  const save = median(enginePairs.map((p) => p.save));
  // The anchor pushes v4, whose top layer no upload above has put in the registry.
  const anchor = `${registry}/bench-anchor-${process.pid}`;
  sh(["docker", "tag", tags.v1 as string, `${anchor}:v1`]);
  sh(["docker", "tag", tags.v4 as string, `${anchor}:v4`]);
  const push1 = await timed(["docker", "push", `${anchor}:v1`]);
  const push2 = await timed(["docker", "push", `${anchor}:v4`]);
  const limit = 1.1 * topLayerGzip + 256 * 1024;
  console.log(
    `\nImage: ${(size / MiB).toFixed(0)} MiB sample layer + a ${(top / MiB).toFixed(0)} MiB top layer (v2's gzip -6: ${(topLayerGzip / MiB).toFixed(2)} MiB)\n`,
  );
  console.log(
    "| run | upload phase s | end to end s (server builds included) | of which after /build answered s | received by the server (per build) |",
  );
  console.log("|---|---|---|---|---|");
  for (const r of rows) console.log(r);
  console.log(
    `\ndocker save > /dev/null, each beside its engine upload (after, before, after): ${enginePairs.map((p) => p.save.toFixed(1)).join(", ")} s; docker push v1 (first; blobs an earlier run pushed may be there): ${push1.toFixed(1)} s; docker push of a changed top layer after it (v4): ${push2.toFixed(1)} s`,
  );
  console.log(
    `v2 sent ${(sentV2.reduce((a, b) => a + b, 0) / MiB).toFixed(2)} MiB, limit 1.10 x gzip -6 of the top layer + 256 KiB = ${(limit / MiB).toFixed(2)} MiB`,
  );
  console.log(`v2 again sent ${(sentAgain.reduce((a, b) => a + b, 0) / 1024).toFixed(1)} KiB, limit 256 KiB`);
  console.log(
    `upload phase: v2 reuse / v2 whole = 1/${(whole.phase / second.phase).toFixed(1)}; v2 reuse / docker push of a changed top layer = ${(second.phase / push2).toFixed(2)}`,
  );
  console.log(
    `from the engine: upload phase ${enginePairs.map((p) => p.phase.toFixed(2)).join(", ")} s, median ${enginePhase.toFixed(2)} s, against the median docker save + 2 s = ${(save + 2).toFixed(2)} s (each pair: ${enginePairs.map((p) => (p.phase - p.save).toFixed(2)).join(", ")} s over its save)`,
  );
  for (const t of [`${anchor}:v1`, `${anchor}:v4`]) Bun.spawnSync(["docker", "rmi", "-f", t]);
}

/** This build against --baseline, case by case, the order alternating. */
async function versusBaseline(): Promise<void> {
  const versus: string[] = [];
  if (baseline) {
    // The upload phase does not wait for a build: a server that builds nothing answers these, and
    // has the base of the bottom layers (the v1s share it) but never the image (it forgets what it built).
    const plain = await startServerProcess(["--statuses", "SUCCESS"]);
    const prefix = `${registry}/runtime`;
    const layers = JSON.parse(sh(["docker", "image", "inspect", "--format", "{{json .RootFS.Layers}}", tags.v2 as string])) as string[];
    // Before each run the server forgets what it built: it has the base, never the image.
    const fresh = async () => {
      await plain.reset();
      await plain.configure({
        registryPrefix: prefix,
        existing: [baseName(prefix, chainIds(layers).at(-2) as string)],
        statuses: ["SUCCESS"],
      });
    };
    const quick = apiEnv(plain);
    const onBase = async (input: string[], local: string, bin: string) => {
      await fresh();
      return (await upload(args(input, local), quick, bin)).phase;
    };
    const cases: Array<[string, (bin: string) => Promise<number>]> = [
      ["v2 upload phase from a file, reuse", (bin) => onBase(["--input", v2], tags.v2 as string, bin)],
      ["v3 upload phase from the engine, reuse", (bin) => onBase(["--pull", "never"], tags.v3 as string, bin)],
      [
        "v2 flattened whole, dry run (--reuse never)",
        async (bin) => (await upload(args(["--input", v2], tags.v2 as string, ["--reuse", "never", "--dry-run"]), {}, bin)).total,
      ],
    ];
    for (const [label, run] of cases) {
      // Untimed, once each: the bases and the page cache as the timed runs will find them.
      if (baselineOnly) for (const bin of [BIN, baseline]) await run(bin);
      const times: Record<string, number[]> = { new: [], old: [] };
      for (let i = 0; i < runs; i++) {
        for (const which of i % 2 ? (["old", "new"] as const) : (["new", "old"] as const)) {
          times[which]?.push(await run(which === "new" ? BIN : baseline));
        }
      }
      const [n, o] = [median(times.new ?? []), median(times.old ?? [])];
      versus.push(
        `| ${label} | ${times.new?.map((x) => x.toFixed(2)).join(", ")} (median ${n.toFixed(2)}) | ${times.old?.map((x) => x.toFixed(2)).join(", ")} (median ${o.toFixed(2)}) | ${(n / o).toFixed(2)} |`,
      );
    }
    plain.stop();
  }
  if (versus.length) {
    console.log(`\nThis build against ${baseline}, in turn (s):\n`);
    console.log("| run | this build | baseline | median ratio |");
    console.log("|---|---|---|---|");
    for (const r of versus) console.log(r);
  }
}

if (!baselineOnly) await mainTable();
await versusBaseline();
server.stop();
for (const t of Object.values(tags)) Bun.spawnSync(["docker", "rmi", "-f", t]);
