/**
 * Layer reuse from the engines users run beside dockerd's classic store: podman (real,
 * `podman save`: each layer once as <diff-id>.tar, the layer folders links to it) and
 * Docker's containerd image store (stood in for: its ID names the manifest or index, its
 * save is containerd's OCI export with gzip'd layers). Each on each builder: v1, v2 with
 * its top layer changed, v2 again; each pushed image pulled back and compared with the
 * same image in dockerd.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { dockerAvailable, layersGzip, realImages, removeImage, testRegistry } from "./docker-fixture.ts";
import { ContainerdStore, containerdAddress, podman, podmanEnv, type RootlessPodman, rootlessPodman } from "./engine-fixture.ts";
import { apiEnv, hasTool, packTar, runCli, startServerProcess, type TestServer, tempDir } from "./helpers.ts";
import { bottomLayers, saveArchiveOf, TOP_CONFIG, TOP_LAYERS } from "./image-fixture.ts";
import { platformOf, uploadAndCompare } from "./reuse-rig.ts";

const hasDocker = dockerAvailable();
const registry = hasDocker ? testRegistry() : undefined;
const podmanVars = hasDocker ? podmanEnv() : undefined;
const containerd = hasDocker ? containerdAddress() : undefined;
const rootless = hasDocker ? rootlessPodman() : undefined;
const KiB = 1024;
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe.skipIf(!hasDocker || !registry)("layer reuse from podman and from Docker's containerd image store", () => {
  let server: TestServer;
  let work: string;
  let store: ContainerdStore | undefined;
  const made: string[] = [];
  const inPodman: string[] = [];
  const inRootless: string[] = [];

  beforeAll(async () => {
    work = tempDir("ru-engines-");
    server = await startServerProcess(["--statuses", "SUCCESS"]);
    store = containerd ? new ContainerdStore(containerd) : undefined;
  });
  afterAll(() => {
    server?.stop();
    for (const image of made) removeImage(image);
    if (inPodman.length > 0) Bun.spawnSync(["podman", "rmi", "-f", ...inPodman], { stdout: "ignore", stderr: "ignore" });
    rootless?.rmi(inRootless);
    store?.remove();
  }, 120_000);

  type Engine = "podman" | "rootless podman" | "containerd";
  const engines: Engine[] = ["podman", "rootless podman", "containerd"];
  const builders = ["classic", "buildkit", "buildah"] as const;

  /** The archive `file` of `local` as the engine's own image (dockerd has it too, to compare with). */
  function intoEngine(engine: Engine, local: string, file: string): void {
    if (engine === "podman") {
      podman(["load", "-q", "-i", file]);
      inPodman.push(local);
    } else if (engine === "rootless podman") {
      (rootless as RootlessPodman).load(file);
      inRootless.push(local);
    } else (store as ContainerdStore).add(local, file);
  }

  /** How the tool reaches the engine. */
  const reach = (engine: Engine): { args?: string[]; env?: Record<string, string>; as?: RootlessPodman["as"] } => {
    if (engine === "podman") return { args: ["--engine", "podman"], env: podmanVars };
    if (engine === "rootless podman") return { args: ["--engine", "podman"], env: rootless?.env, as: rootless?.as };
    return { env: (store as ContainerdStore).env() };
  };

  /** `name`'s version `v` of the reuse rows' image, in dockerd and in `engine` (none: dockerd only), and the gzip -6 size of its top layer. */
  async function version(
    engine: Engine | undefined,
    name: string,
    v: "v1" | "v2",
  ): Promise<{ local: string; file: string; topGzip: number }> {
    const local = `ru-engines-${name}-${process.pid}:${v}`;
    const file = join(work, `${name}-${v}.tar`);
    writeFileSync(
      file,
      await saveArchiveOf([...bottomLayers(`${name}-${process.pid}`), TOP_LAYERS[v]], { tag: local, config: TOP_CONFIG[v] }),
    );
    expect(Bun.spawnSync(["docker", "load", "-q", "-i", file]).exitCode).toBe(0);
    made.push(local);
    if (engine) intoEngine(engine, local, file);
    return { local, file, topGzip: gzipSync(await packTar(TOP_LAYERS[v]), { level: 6 }).byteLength };
  }

  /** What the image costs sent whole (flattened, gzip'd), as a dry run measures it. */
  async function wholeBytes(file: string, local: string): Promise<number> {
    const r = await runCli(["--context", "dockerfile", "--reuse", "never", "--input", file, local, "--dry-run", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    return Number(JSON.parse(r.stdout).bytes_sent);
  }

  // Under REQUIRE_DOCKER=1 (CI) a missing engine or builder has failed the file already.
  const available = (engine: Engine) =>
    engine === "podman" ? podmanVars !== undefined : engine === "rootless podman" ? rootless !== undefined : containerd !== undefined;
  // Rootless podman reads and saves as root's does, its store aside: one builder for it.
  const rows = engines
    .filter(available)
    .flatMap((engine) =>
      builders
        .filter((b) => (b !== "buildah" || hasTool("buildah")) && (engine !== "rootless podman" || b === "buildkit"))
        .map((builder) => [engine, builder] as const),
    );

  test.each(rows)(
    "from %s, with %s: v1 builds a base for at most 1.15 × a whole upload, v2 sends only its top layer, v2 again almost nothing, each the same image",
    async (engine, builder) => {
      await server.configure({ build: builder, registry, statuses: ["SUCCESS"], failFrom: undefined });
      const name = `${engine.replace(" ", "-")}-${builder}`;
      const v1 = await version(engine, name, "v1");
      const v2 = await version(engine, name, "v2");
      const upload = (local: string) => uploadAndCompare(server, made, { local }, { builder, ...reach(engine) });

      const first = await upload(v1.local);
      expect(first.stderr).toContain("No base of these layers on the server yet: building one of the bottom 2");
      expect(first.received.length).toBe(2);
      expect(sum(first.received)).toBeLessThanOrEqual(1.15 * (await wholeBytes(v1.file, v1.local)));

      const second = await upload(v2.local);
      expect(second.stderr).toMatch(/Reusing 2 of 3 layers (\([\d.]+ MiB\) )?already on the server/);
      expect(second.received.length).toBe(1);
      expect(second.received[0]).toBeLessThanOrEqual(1.1 * v2.topGzip + 256 * KiB);

      const again = await upload(v2.local);
      expect(again.stderr).toContain("Reusing 3 of 3 layers");
      expect(again.received.length).toBe(1);
      expect(again.received[0]).toBeLessThanOrEqual(256 * KiB);
      expect(String(again.json.base_image)).toContain(`${(await server.state()).registryPrefix}/runtime-upload-images:`);
      expect(again.stderr).not.toContain("Nothing can be reused");
    },
    300_000,
  );

  // One builder each, the three of them between the two engines' rows above: what a real builder makes, from each engine.
  const real: Array<readonly [Engine, (typeof builders)[number]]> = [
    ["podman", "buildah"],
    ["containerd", "buildkit"],
  ];
  test.each(real.filter(([engine]) => available(engine)))(
    "from %s, with %s, on images a real builder made there (install, clean up, copy the app): v2 with the cache sends its app layer, v2 without it the layers above FROM, each the same image",
    async (engine, builder) => {
      await server.configure({ build: builder, registry, statuses: ["SUCCESS"], failFrom: undefined });
      const images = await realImages(`${engine}-${process.pid}`, work, engine === "podman" ? "podman" : "docker");
      made.push(...Object.values(images));
      for (const local of [images.v1, images.v2, images.v2NoCache]) {
        if (engine === "podman") inPodman.push(local);
        else {
          const file = join(work, `${local.replace(/[/:]/g, "_")}.tar`);
          expect(Bun.spawnSync(["docker", "save", "-o", file, local]).exitCode).toBe(0);
          intoEngine(engine, local, file);
        }
      }
      const upload = (local: string) => uploadAndCompare(server, made, { local }, { builder, ...reach(engine) });
      const whole = await runCli(["--context", "dockerfile", "--reuse", "never", "--pull", "never", images.v1, "--dry-run", "--json"]);
      expect(whole.code, whole.stderr).toBe(0);

      const first = await upload(images.v1);
      expect(first.stderr).toContain("Building a base of layers 1 to 3");
      expect(sum(first.received)).toBeLessThanOrEqual(1.15 * Number(JSON.parse(whole.stdout).bytes_sent));

      const cached = await upload(images.v2);
      expect(cached.stderr).toContain("Reusing 4 of 5 layers");
      expect(cached.received.length).toBe(1);
      expect(cached.received[0]).toBeLessThanOrEqual(1.1 * layersGzip(images.v2, 4, work) + 256 * KiB);

      const fresh = await upload(images.v2NoCache);
      expect(fresh.stderr).toContain("Building a base of layers 1 to 3");
      expect(sum(fresh.received)).toBeLessThanOrEqual(1.1 * layersGzip(images.v2NoCache, 1, work) + 256 * KiB);

      const again = await upload(images.v2NoCache);
      expect(again.stderr).toContain("Reusing 5 of 5 layers");
      expect(again.received[0]).toBeLessThanOrEqual(256 * KiB);
    },
    600_000,
  );

  test.each(engines.filter(available))(
    "from %s, the whole image (--context image) is the engine's save as it streams, and the image flattened (--reuse never) is the same image",
    async (engine) => {
      const { local } = await version(engine, `whole-${engine.replace(" ", "-")}`, "v1");
      await server.configure({ build: undefined, registry: undefined, statuses: ["SUCCESS"], failFrom: undefined });
      const before = (await server.state()).uploads.length;
      const { args = [], env = {}, as } = reach(engine);
      const r = await runCli([...args, "--pull", "never", local, "--poll-interval", "0.05"], { env: { ...apiEnv(server), ...env }, as });
      expect(r.code, r.stderr).toBe(0);
      const cli = engine === "containerd" ? "docker" : "podman";
      const save = Bun.spawnSync([...(as?.command ?? []), "sh", "-c", `${cli} save -- "$0" | sha256sum`, local], {
        cwd: as?.cwd,
        env: { ...process.env, ...env },
      });
      const [sent] = (await server.state()).uploads.slice(before);
      expect(sent?.tarSha256).toBe(save.stdout.toString().slice(0, 64));

      await server.configure({ build: "classic", registry, statuses: ["SUCCESS"], failFrom: undefined });
      const flat = await uploadAndCompare(server, made, { local }, { args: [...args, "--reuse", "never"], env, as });
      expect(flat.received.length).toBe(1);
    },
    300_000,
  );

  test.skipIf(!containerd)(
    "from the containerd store, an image whose ID names an index of two platforms is saved for the platform inspected: reused as any other, the same image",
    async () => {
      await server.configure({ build: "classic", registry, statuses: ["SUCCESS"], failFrom: undefined });
      const own = new ContainerdStore(containerd as string);
      try {
        const v1 = await version(undefined, "index", "v1");
        const arm = join(work, "index-arm.tar");
        writeFileSync(arm, await saveArchiveOf([TOP_LAYERS.v2], { tag: v1.local, platform: { architecture: "arm64" } }));
        own.add(v1.local, v1.file, [{ archive: arm, platform: { os: "linux", architecture: "arm64" } }]);
        const upload = () => uploadAndCompare(server, made, { local: v1.local }, { builder: "classic", env: own.env() });
        const first = await upload();
        expect(first.received.length).toBe(2);
        const saves = own.calls().filter((c) => c.startsWith("save"));
        expect(saves.length).toBeGreaterThan(0);
        for (const c of saves) expect(c).toMatch(new RegExp(`^save --platform ${platformOf(v1.local)} -- sha256:[0-9a-f]{64}$`));
        const again = await upload();
        expect(again.stderr).toContain("Reusing 3 of 3 layers");
        expect(again.received[0]).toBeLessThanOrEqual(256 * KiB);
      } finally {
        own.remove();
      }
    },
    300_000,
  );
});
