/**
 * Layer reuse on the shape real images have, measured on each builder: an image a real
 * builder made from an ordinary Dockerfile (install, clean up deleting files of the FROM
 * layer too, change a file, copy the app; test/docker-fixture.ts realImages), uploaded as
 * v1, then v2 built with the cache (the app changed), v2 built without it (every layer
 * above FROM new), then v2 again; bytes the server received per upload, against a whole
 * upload's and gzip -6 of the layers that changed. Each run starts with no base of its own.
 *
 *   RU_TEST_REGISTRY=127.0.0.1:PORT bun bench/reuse-shapes.ts [--builders classic,buildkit,buildah]
 *
 * Needs what bench/reuse.ts needs (a Docker engine whose registry mirror is that registry;
 * npm run build), and buildah for its row.
 */
import type { Builder } from "../test/builder.ts";
import { layersGzip, realImages, removeImage } from "../test/docker-fixture.ts";
import { apiEnv, BIN, startServerProcess, tempDir } from "../test/helpers.ts";

const argv = process.argv.slice(2);
const at = argv.indexOf("--builders");
const builders = (at >= 0 ? (argv[at + 1] as string) : "classic,buildkit,buildah").split(",") as Builder[];
const registry = process.env.RU_TEST_REGISTRY;
if (!registry) throw new Error("RU_TEST_REGISTRY must name the loopback registry (see .ci/run)");
const work = tempDir("ru-bench-shapes-");
const KiB = 1024;
const server = await startServerProcess(["--statuses", "SUCCESS"]);

async function run(args: string[], env: Record<string, string>): Promise<{ json: Record<string, unknown>; seconds: number }> {
  const t = performance.now();
  const p = Bun.spawn([BIN, ...args, "--json"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
  if ((await p.exited) !== 0) throw new Error(`${args.join(" ")}:\n${err}`);
  return { json: JSON.parse(out), seconds: (performance.now() - t) / 1000 };
}

const rows: string[] = [];
for (const builder of builders) {
  await server.configure({ build: builder, registry, statuses: ["SUCCESS"] });
  const images = await realImages(`bench-${builder}-${process.pid}`, work);
  const whole = Number(
    (await run(["--context", "dockerfile", "--reuse", "never", "--pull", "never", images.v1, "--dry-run"], {})).json.bytes_sent,
  );
  const bounds = {
    v1: 1.15 * whole,
    v2: 1.1 * layersGzip(images.v2, 4, work) + 256 * KiB,
    v2NoCache: 1.1 * layersGzip(images.v2NoCache, 1, work) + 256 * KiB,
    again: 256 * KiB,
  };
  for (const [label, image, bound] of [
    ["v1, first upload", images.v1, bounds.v1],
    ["v2 built with the cache (the app changed)", images.v2, bounds.v2],
    ["v2 built without the cache", images.v2NoCache, bounds.v2NoCache],
    ["v2 again", images.v2NoCache, bounds.again],
  ] as const) {
    const before = (await server.state()).uploads.length;
    const args = ["--context", "dockerfile", "--form", "openhands", "--pull", "never", image, "--poll-interval", "0.2"];
    const { json, seconds } = await run(args, apiEnv(server));
    const received = (await server.state()).uploads.slice(before).map((u) => u.gzipBytes);
    const total = received.reduce((a, b) => a + b, 0);
    const kib = (n: number) => `${(n / KiB).toFixed(1)} KiB`;
    rows.push(
      `| ${builder} | ${label} | ${json.layers_reused ?? "-"} of ${json.layers_total ?? "-"} | ${received.length} | ${kib(total)} | ${kib(bound)} | ${total <= bound ? "yes" : "NO"} | ${seconds.toFixed(1)} |`,
    );
  }
  rows.push(`| ${builder} | (a whole upload, --reuse never, for the bound) | | | ${(whole / KiB).toFixed(1)} KiB | | | |`);
  for (const image of Object.values(images)) removeImage(image);
}
server.stop();
console.log("| builder | upload | layers in the base built on | builds | received by the server | bound | within | end to end s |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
