/**
 * Layer reuse on the shape real images have, measured on each builder: an image a real
 * builder made from an ordinary Dockerfile (install, clean up deleting files of the FROM
 * layer too, change a file, copy the app; test/docker-fixture.ts realImages), uploaded as
 * v1, then v2 built with the cache (the app changed), v2 built without it (every layer
 * above FROM new), then v2 again; bytes the server received per upload, against a whole
 * upload's and gzip -6 of the layers that changed. Then the shapes a rebuild deletes with RUN
 * steps on the base (2,600 long paths, /etc/hosts…, a path with a line break: deletionShape),
 * v1 then v2, from archives. Each run starts with no base of its own. With --engines, the
 * real image's rows from each engine: dockerd's classic store (docker), podman (the images
 * built by podman) and the stand-in for Docker's containerd image store (test/engine-fixture.ts).
 *
 *   RU_TEST_REGISTRY=127.0.0.1:PORT bun bench/reuse-shapes.ts [--builders classic,buildkit,buildah]
 *     [--engines docker,podman,containerd]
 *
 * Needs what bench/reuse.ts needs (a Docker engine whose registry mirror is that registry;
 * npm run build), buildah for its row, and for the other engines what .ci/run sets up
 * (CONTAINERS_STORAGE_CONF, RU_TEST_CONTAINERD).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { option } from "../scripts/option.ts";
import type { Builder } from "../test/builder.ts";
import { layersGzip, realImages, removeImage } from "../test/docker-fixture.ts";
import { ContainerdStore, containerdAddress } from "../test/engine-fixture.ts";
import { apiEnv, BIN, packTar, startServerProcess, tempDir } from "../test/helpers.ts";
import { deletionShape, saveArchiveOf } from "../test/image-fixture.ts";

const builders = (option("builders") ?? "classic,buildkit,buildah").split(",") as Builder[];
const engines = (option("engines") ?? "docker").split(",") as Array<"docker" | "podman" | "containerd">;
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

/** One reuse upload: what the run said, and what the server received for each build. */
async function upload(
  from: string[],
  env: Record<string, string> = {},
): Promise<{ json: Record<string, unknown>; seconds: number; received: number[] }> {
  const before = (await server.state()).uploads.length;
  const { json, seconds } = await run(["--context", "dockerfile", "--form", "openhands", ...from, "--poll-interval", "0.2"], {
    ...apiEnv(server),
    ...env,
  });
  return { json, seconds, received: (await server.state()).uploads.slice(before).map((u) => u.gzipBytes) };
}

const rows: string[] = [];
const kib = (n: number) => `${(n / KiB).toFixed(1)} KiB`;
function row(builder: string, label: string, bound: number | undefined, r: Awaited<ReturnType<typeof upload>>): void {
  const total = r.received.reduce((a, b) => a + b, 0);
  const within = bound === undefined ? "" : total <= bound ? "yes" : "NO";
  rows.push(
    `| ${builder} | ${label} | ${r.json.layers_reused ?? "-"} of ${r.json.layers_total ?? "-"} | ${r.received.length} | ${kib(total)} | ${bound === undefined ? "" : kib(bound)} | ${within} | ${r.seconds.toFixed(1)} |`,
  );
}
/** The engine's copies of the real images, and how the tool reaches it. */
function engineOf(
  engine: (typeof engines)[number],
  images: Record<string, string>,
): { args: string[]; env: Record<string, string>; remove: () => void } {
  if (engine === "podman")
    return {
      args: ["--engine", "podman"],
      env: {},
      remove: () => Bun.spawnSync(["podman", "rmi", "-f", ...Object.values(images)], { stdout: "ignore", stderr: "ignore" }),
    };
  if (engine === "docker") return { args: [], env: {}, remove: () => {} };
  const store = new ContainerdStore(containerdAddress() as string);
  for (const image of Object.values(images)) {
    const file = join(work, "export.tar");
    if (Bun.spawnSync(["docker", "save", "-o", file, image]).exitCode !== 0) throw new Error(`docker save ${image} failed`);
    store.add(image, file);
  }
  return { args: [], env: store.env(), remove: () => store.remove() };
}

for (const engine of engines)
  for (const builder of builders) {
    await server.configure({ build: builder, registry, statuses: ["SUCCESS"] });
    const images = await realImages(`bench-${engine}-${builder}-${process.pid}`, work, engine === "podman" ? "podman" : "docker");
    const reach = engineOf(engine, images);
    const label = engine === "docker" ? builder : `${builder}, from ${engine}`;
    const whole = Number(
      (await run(["--context", "dockerfile", "--reuse", "never", "--pull", "never", images.v1, "--dry-run"], {})).json.bytes_sent,
    );
    const bounds = {
      v1: 1.15 * whole,
      v2: 1.1 * layersGzip(images.v2, 4, work) + 256 * KiB,
      v2NoCache: 1.1 * layersGzip(images.v2NoCache, 1, work) + 256 * KiB,
      again: 256 * KiB,
    };
    for (const [what, image, bound] of [
      ["v1, first upload", images.v1, bounds.v1],
      ["v2 built with the cache (the app changed)", images.v2, bounds.v2],
      ["v2 built without the cache", images.v2NoCache, bounds.v2NoCache],
      ["v2 again", images.v2NoCache, bounds.again],
    ] as const) {
      row(label, what, bound, await upload(["--pull", "never", ...reach.args, image], reach.env));
    }
    rows.push(`| ${label} | (a whole upload, --reuse never, for the bound) | | | ${(whole / KiB).toFixed(1)} KiB | | | |`);
    for (const image of Object.values(images)) removeImage(image);
    reach.remove();
    if (engine !== "docker") continue;

    // The shapes a rebuild deletes with RUN steps on the base (test/image-fixture.ts deletionShape), from archives.
    const shape = deletionShape(`bench-deletes-${builder}-${process.pid}`);
    const changed = (await Promise.all(shape.changed.map(async (l) => gzipSync(await packTar(l), { level: 6 }).byteLength))).reduce(
      (a, b) => a + b,
    );
    for (const [what, layers, bound] of [
      ["deletions: v1", shape.v1, undefined],
      ["deletions: v2 (deletes 2,600 paths of 1 KB, /etc/hosts…, a path with a line break)", shape.v2, 1.1 * changed + 256 * KiB],
    ] as const) {
      const file = join(work, `deletes-${builder}-${layers.length}.tar`);
      const tag = `bench-deletes-${builder}-${process.pid}:${layers.length}`;
      writeFileSync(file, await saveArchiveOf(layers, { tag }));
      row(builder, what, bound, await upload(["--input", file, tag]));
    }
  }
server.stop();
console.log("| builder | upload | layers in the base built on | builds | received by the server | bound | within | end to end s |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
