/**
 * Layer reuse against a real builder service: the test server builds each context on a
 * fresh worker with each builder, pushes to a real registry and answers /image_exists from
 * it. v1 (bottom layers that delete and make a folder opaque), then v2 (a changed top
 * layer with hard links, owners and modes; a changed config), then v2 again; after each,
 * the pushed image is pulled back and compared with the original path by path and field
 * by field, and the bytes the server received are counted on its side.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { type Builder, deleteFromRegistry, inRegistry } from "./builder.ts";
import { dockerAvailable, layersGzip, realImages, removeImage, testRegistry } from "./docker-fixture.ts";
import { apiEnv, hasTool, packTar, runCli, startServerProcess, type TarSpec, type TestServer, tempDir } from "./helpers.ts";
import { bottomLayers, deletionShape, dir, file, forgeLayer, hostOsLayer, saveArchiveOf, TOP_CONFIG, TOP_LAYERS } from "./image-fixture.ts";
import { platformOf, uploadAndCompare } from "./reuse-rig.ts";

const hasDocker = dockerAvailable();
const registry = hasDocker ? testRegistry() : undefined;
const FAST = ["--poll-interval", "0.05"];
const KiB = 1024;

/** A top layer that deletes a file and makes a folder opaque. */
const DELETING: TarSpec[] = [file("etc/.wh.motd", ""), dir("opq/"), file("opq/.wh..wh..opq", "")];
describe.skipIf(!hasDocker)("layer reuse on a builder server with a real registry", () => {
  let server: TestServer;
  let work: string;
  const made: string[] = [];

  beforeAll(async () => {
    work = tempDir("ru-reuse-");
    server = await startServerProcess(["--statuses", "SUCCESS"]);
  });
  // Dozens of images to remove, one `docker rmi` each: more than a hook's default 5 s on a busy host.
  afterAll(() => {
    server?.stop();
    for (const image of made) removeImage(image);
  }, 120_000);

  /** `name`'s bottom layers under `top`, as an archive and loaded into the engine as the original to compare with. */
  function loaded(name: string, tag: string, top: TarSpec[], config: object): Promise<{ file: string; local: string }> {
    // The pid in the bottom layers: each run starts with a registry that has none of its bases.
    return loadedLayers(name, tag, layersOf(name, top), config);
  }

  async function loadedLayers(
    name: string,
    tag: string,
    layers: TarSpec[][],
    config: object,
    platform?: { architecture: string; variant?: string },
  ): Promise<{ file: string; local: string }> {
    const local = `ru-reuse-${name}-${process.pid}:${tag}`;
    const file = join(work, `${name}-${tag}.tar`);
    writeFileSync(file, await saveArchiveOf(layers, { tag: local, config, platform }));
    expect(Bun.spawnSync(["docker", "load", "-q", "-i", file]).exitCode).toBe(0);
    made.push(local);
    return { file, local };
  }

  const layersOf = (name: string, top: TarSpec[]) => [...bottomLayers(`${name}-${process.pid}`), top];

  /** The version's image, and the gzip -6 size of its top layer. */
  async function version(builder: string, v: "v1" | "v2"): Promise<{ file: string; local: string; topGzip: number }> {
    return {
      ...(await loaded(builder, v, TOP_LAYERS[v], TOP_CONFIG[v])),
      topGzip: gzipSync(await packTar(TOP_LAYERS[v]), { level: 6 }).byteLength,
    };
  }

  /** Uploads, then pulls the pushed image back and compares it with the original (its platform that of the original, or `platform`). */
  const upload = (input: { file?: string; local: string }, builder?: string, platform?: string) =>
    uploadAndCompare(server, made, input, { builder, platform });

  const builders = ["classic", "buildkit", ...(hasTool("buildah") ? ["buildah" as const] : [])] as const;
  test.skipIf(!registry).each(builders)(
    "with %s: v1 builds a base, v2 sends only its top layer, v2 again sends almost nothing, each the same image",
    async (builder) => {
      await server.configure({ build: builder, registry, statuses: ["SUCCESS"], failFrom: undefined });
      const v1 = await version(builder, "v1");
      const v2 = await version(builder, "v2");

      const first = await upload(v1, builder);
      expect(first.stderr).toContain("No base of these layers on the server yet: building one of the bottom 2");
      expect(first.received.length).toBe(2);
      expect(first.json).toMatchObject({ layers_total: 3, layers_reused: 2 });

      const second = await upload(v2, builder);
      expect(second.stderr).toMatch(/Reusing 2 of 3 layers \([\d.]+ MiB\) already on the server/);
      expect(second.received.length).toBe(1);
      expect(second.received[0]).toBeLessThanOrEqual(1.1 * v2.topGzip + 256 * KiB);
      expect(second.json).toMatchObject({ layers_total: 3, layers_reused: 2 });
      const prefix = (await server.state()).registryPrefix;
      expect(String(second.json.base_image)).toContain(`${prefix}/runtime-upload-layers:`);

      const again = await upload(v2, builder);
      expect(again.stderr).toContain("Reusing 3 of 3 layers");
      expect(again.received.length).toBe(1);
      expect(again.received[0]).toBeLessThanOrEqual(256 * KiB);
      expect(String(again.json.base_image)).toContain(`${prefix}/runtime-upload-images:`);
    },
    300_000,
  );

  test.skipIf(!registry)(
    "a build on a base that broke (or vanished) falls back to the whole image, once, and says so",
    async () => {
      await server.configure({ build: "buildkit", registry, statuses: ["SUCCESS"], failFrom: undefined });
      const v1 = await version("fallback", "v1");
      await upload(v1, "buildkit");
      await server.configure({ failFrom: "runtime-upload-layers" });
      const v2 = await version("fallback", "v2");
      const r = await upload(v2, "buildkit");
      expect(r.stderr).toContain("Warning: the build on a reused base failed");
      expect(r.received.length).toBe(2);
      expect(r.json.layers_reused).toBeNull();
    },
    300_000,
  );

  test.skipIf(!registry)(
    "from the engine (one docker save, its layer folders placed by their v1 IDs): v2 after v1 sends only its top layer, the same image",
    async () => {
      await server.configure({ build: "classic", registry, statuses: ["SUCCESS"], failFrom: undefined });
      const v1 = await version("engine", "v1");
      const v2 = await version("engine", "v2");
      await upload(v1, "classic");
      // A dry run with credentials asks what the server has and shows the plan; it sends nothing.
      const before = (await server.state()).uploads.length;
      const args = ["--context", "dockerfile", "--form", "openhands", "--pull", "never", "--dry-run", v2.local];
      const plan = await runCli(args, { env: apiEnv(server) });
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stderr).toContain("Reusing 2 of 3 layers already on the server");
      const blind = await runCli(args);
      expect(blind.code, blind.stderr).toBe(0);
      expect(blind.stderr).toContain("Nothing can be reused: a dry run without credentials asks no server what it has");
      expect((await server.state()).uploads.length).toBe(before);
      const second = await upload({ local: v2.local }, "classic");
      expect(second.stderr).toContain("Reusing 2 of 3 layers already on the server");
      expect(second.received.length).toBe(1);
      expect(second.received[0]).toBeLessThanOrEqual(1.1 * v2.topGzip + 256 * KiB);
      // Weighed as the save passed: the bottom layers' bytes, read past.
      expect(second.json).toMatchObject({ layers_total: 3, layers_reused: 2 });
      expect(Number(second.json.bytes_reused)).toBeGreaterThan(3 * 1024 * 1024);
      const again = await upload({ local: v2.local }, "classic");
      expect(again.stderr).toContain("Reusing 3 of 3 layers");
      expect(again.received[0]).toBeLessThanOrEqual(256 * KiB);
      // A registry clean-up takes the base and the whole image: the next upload builds the base again, still right.
      for (const image of [second.json.base_image, again.json.base_image]) await deleteFromRegistry(registry as string, String(image));
      expect(await inRegistry(registry as string, String(second.json.base_image))).toBe(false);
      const emptied = await upload({ local: v2.local }, "classic");
      expect(emptied.stderr).toContain("No base of these layers on the server yet");
      expect(emptied.complete).toEqual([true, true]);
    },
    300_000,
  );

  test.skipIf(!registry)(
    "from the engine, a top layer that deletes above a base the server has: the pass stops before the context ends, and the whole image goes once",
    async () => {
      await server.configure({ build: "buildkit", registry, statuses: ["SUCCESS"], failFrom: undefined });
      const v1 = await version("engine-unsafe", "v1");
      await upload(v1, "buildkit");
      const { local } = await loaded("engine-unsafe", "3", DELETING, TOP_CONFIG.v1);
      const r = await upload({ local }, "buildkit");
      expect(r.stderr).toContain("Nothing can be reused: layer 2 deletes files of lower layers");
      // The layered upload was cut before its closing boundary: one build, of the whole image.
      expect(r.complete).toEqual([false, true]);
      expect(r.json.layers_reused).toBeNull();
    },
    300_000,
  );

  // An OCI archive's layers are gzip'd blobs: they go as they are, and ADD unpacks them on every builder.
  test.skipIf(!registry || !hasTool("skopeo")).each(builders)(
    "with %s: v2 as an OCI archive with gzip'd layers, on the base v1 built, sends its top layer as it is, the same image",
    async (builder) => {
      await server.configure({ build: builder, registry, statuses: ["SUCCESS"], failFrom: undefined });
      const v1 = await version(`oci-${builder}`, "v1");
      const v2 = await version(`oci-${builder}`, "v2");
      await upload(v1, builder);
      const oci = join(work, `oci-${builder}-v2.tar`);
      const copy = Bun.spawnSync(["skopeo", "copy", "--quiet", `docker-archive:${v2.file}`, `oci-archive:${oci}:v2`], { stderr: "pipe" });
      expect(copy.exitCode, copy.stderr.toString()).toBe(0);
      const manifest = Bun.spawnSync(["sh", "-c", `tar -xOf ${oci} --wildcards 'blobs/*' | grep -ao 'image.layer.v1.tar+gzip' | wc -l`]);
      expect(Number(manifest.stdout.toString())).toBe(3);
      const r = await upload({ file: oci, local: v2.local }, builder);
      expect(r.stderr).toContain("Reusing 2 of 3 layers");
      expect(r.complete).toEqual([true]);
      expect(r.received[0]).toBeLessThanOrEqual(1.1 * v2.topGzip + 256 * KiB);
    },
    300_000,
  );

  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  // The same rows with BuildKit and buildah run on the images of the other engines (test/engines.e2e.test.ts):
  // each builder and each engine once on a real builder's images, every pair on the rows above.
  test.skipIf(!registry).each(["classic"] as const)(
    "with %s, on an image a real builder made (install, clean up, copy the app): v2 with the cache sends its app layer, v2 without it the layers above FROM, each the same image",
    async (builder) => {
      await server.configure({ build: builder, registry, statuses: ["SUCCESS"], failFrom: undefined });
      const images = await realImages(`${builder}-${process.pid}`, work);
      made.push(...Object.values(images));
      const whole = await runCli(["--context", "dockerfile", "--reuse", "never", "--pull", "never", images.v1, "--dry-run", "--json"]);
      expect(whole.code, whole.stderr).toBe(0);
      const wholeBytes = Number(JSON.parse(whole.stdout).bytes_sent);

      const first = await upload({ local: images.v1 }, builder);
      expect(first.stderr).toContain("Building a base of layers 1 to 3");
      expect(first.received.length).toBe(3);
      expect(sum(first.received)).toBeLessThanOrEqual(1.15 * wholeBytes);

      const cached = await upload({ local: images.v2 }, builder);
      expect(cached.stderr).toContain("Reusing 4 of 5 layers");
      expect(cached.received.length).toBe(1);
      expect(cached.received[0]).toBeLessThanOrEqual(1.1 * layersGzip(images.v2, 4, work) + 256 * KiB);

      const fresh = await upload({ local: images.v2NoCache }, builder);
      // The FROM layer found on the server; the layers above it go once, into the next base and the image.
      expect(fresh.stderr).toMatch(/^ {2}[0-9a-f]{12}: on the server /m);
      expect(fresh.stderr).toContain("Building a base of layers 1 to 3");
      expect(fresh.received.length).toBe(2);
      expect(sum(fresh.received)).toBeLessThanOrEqual(1.1 * layersGzip(images.v2NoCache, 1, work) + 256 * KiB);

      const again = await upload({ local: images.v2NoCache }, builder);
      expect(again.stderr).toContain("Reusing 5 of 5 layers");
      expect(again.received[0]).toBeLessThanOrEqual(256 * KiB);
    },
    600_000,
  );

  // An archive can lie: a layer's bytes under another layer's diff ID, read for a base it would build (the
  // first pass), or among the layers sent on a base the server has (the layered pass, one read).
  test.skipIf(!registry).each([
    ["a base it would build", 0],
    ["the layers it would send on a base the server has", 2],
  ] as const)(
    "a forged layer in %s fails the upload, names the layer, and nothing is built from it; the real image then builds right",
    async (_where, n) => {
      await server.configure({ build: "classic", registry, statuses: ["SUCCESS"], failFrom: undefined });
      // The same bottom layers under another top: the server then has their base.
      if (n > 0) await upload(await loaded(`forged-${n}`, "other", TOP_LAYERS.v2, TOP_CONFIG.v2), "classic");
      const real = await loaded(`forged-${n}`, "1", TOP_LAYERS.v1, TOP_CONFIG.v1);
      const forged = join(work, `forged-${n}.tar`);
      const wrong = await packTar([dir("base/"), file("base/marker", "forged\n"), dir("app/"), file("app/version", "forged\n")]);
      writeFileSync(
        forged,
        await saveArchiveOf(layersOf(`forged-${n}`, TOP_LAYERS.v1), {
          tag: real.local,
          config: TOP_CONFIG.v1,
          entries: forgeLayer(n, wrong),
        }),
      );
      const before = (await server.state()).uploads.length;
      const r = await runCli(["--context", "dockerfile", "--form", "openhands", "--input", forged, real.local, "--json", ...FAST], {
        env: apiEnv(server),
      });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`layer ${n} does not match its diff ID`);
      expect(JSON.parse(r.stdout).ok).toBe(false);
      // Cut before the context ended: in the flattened base, or in the layered pass.
      expect((await server.state()).uploads.slice(before).map((u) => u.complete)).toEqual([false]);
      const honest = await upload(real, "classic");
      expect(honest.stderr).toContain(n === 0 ? "No base of these layers on the server yet" : "Reusing 2 of 3 layers");
    },
    300_000,
  );

  test.skipIf(!registry).each(builders)(
    "with %s: a layer of nothing above the base (a RUN that changed no file) adds no stray file",
    async (builder) => {
      await server.configure({ build: builder, registry, statuses: ["SUCCESS"], failFrom: undefined });
      const image = await loaded(`empty-${builder}`, "1", [], TOP_CONFIG.v1);
      const r = await upload(image, builder);
      expect(r.stderr).toContain("No base of these layers on the server yet: building one of the bottom 2");
      expect(r.complete).toEqual([true, true]);
    },
    300_000,
  );

  test.skipIf(!registry).each(builders)(
    "with %s: an image with ONBUILD triggers is never built on (a FROM of it runs them): uploaded twice, the same image each time, its triggers kept",
    async (builder) => {
      await server.configure({ build: builder, registry, statuses: ["SUCCESS"], failFrom: undefined });
      const marker = `onbuild-${builder}-${process.pid}`;
      // /etc/group: a trigger's USER root resolves there, so a build FROM this image would run them all to the end.
      const os = [...hostOsLayer(marker), file("etc/group", "root:x:0:\n")];
      const layers = [os, [dir("data/"), file("data/keep", "kept\n")], [dir("app/"), file("app/main", "v1\n")]];
      // Run in a child build, each would change what the image is: its user, its environment, its files.
      const triggers = { User: "nobody", Env: ["PATH=/bin", "A=1"], OnBuild: ["USER root", "ENV TRIGGERED=1", "RUN rm /data/keep"] };
      const image = await loadedLayers(`onbuild-${builder}`, "1", layers, triggers);
      const first = await upload(image, builder);
      expect(first.received.length).toBe(2);
      const again = await upload(image, builder);
      expect(again.stderr).toContain("Reusing 2 of 3 layers");
      expect(String(again.json.base_image)).toContain("runtime-upload-layers:");
    },
    300_000,
  );

  test.skipIf(!registry).each(builders)(
    "with %s: a linux/arm64/v8 image is rebuilt with each FROM naming its platform; buildah labels it so, the classic builder and Docker 20.10's BuildKit with their own (said once)",
    async (builder) => {
      await server.configure({ build: builder, registry, statuses: ["SUCCESS"], failFrom: undefined });
      const arm = { architecture: "arm64", variant: "v8" };
      const image = await loadedLayers(`arm-${builder}`, "1", layersOf(`arm-${builder}`, TOP_LAYERS.v1), TOP_CONFIG.v1, arm);
      expect(platformOf(image.local)).toBe("linux/arm64/v8");
      const r = await upload(image, builder, builder === "buildah" ? "linux/arm64/v8" : "linux/amd64");
      expect(r.received.length).toBe(2);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("Note: the image is for linux/arm64/v8: each FROM names it"))).toHaveLength(1);
    },
    300_000,
  );

  test.skipIf(!registry).each(builders)(
    "with %s: v2 deletes from the base 2,600 long paths, /etc/hosts, /etc/hostname, /etc/resolv.conf and a path with a line break: its changed layers alone go, the same image",
    async (builder) => {
      await server.configure({ build: builder, registry, statuses: ["SUCCESS"], failFrom: undefined });
      const shape = deletionShape(`deletes-${builder}-${process.pid}`);
      const v1 = await loadedLayers(`deletes-${builder}`, "v1", shape.v1, TOP_CONFIG.v1);
      const v2 = await loadedLayers(`deletes-${builder}`, "v2", shape.v2, TOP_CONFIG.v2);
      await upload(v1, builder);
      const second = await upload(v2, builder);
      // The bottom two on the server; the deleting layer flattened into a new base, its rm steps run there.
      expect(second.stderr.match(/^ {2}[0-9a-f]{12}: on the server /gm)).toHaveLength(2);
      expect(second.stderr).toContain("Building a base of layers 2 to 2");
      expect(second.stderr).toContain(
        "Note: the layers delete /etc/hostname, /etc/hosts, /etc/resolv.conf, which are left as the base has them",
      );
      expect(second.stderr).not.toContain("Warning");
      const changed = await Promise.all(shape.changed.map(async (l) => gzipSync(await packTar(l), { level: 6 }).byteLength));
      expect(second.received.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1.1 * changed.reduce((a, b) => a + b) + 256 * KiB);
    },
    300_000,
  );

  // What a builder may not carry faithfully in a layer of its own: the image is flattened instead, and why is said.
  const unsafe: Array<[string, Builder, TarSpec[], string]> = [
    [
      "a hard link to a file of a lower layer (a builder makes it a copy)",
      "classic",
      [{ name: "etc/motd-link", type: "link", linkname: "etc/motd", mode: 0o644 }],
      "layer 2 holds a hard link to a file of a lower layer",
    ],
    ...builders
      .filter((b) => b !== "classic")
      .map((builder): [string, Builder, TarSpec[], string] => [
        `with ${builder}, a top layer that deletes files of layers with no rm (only a step run in the image deletes on every builder)`,
        builder,
        DELETING,
        "layer 2 deletes files of lower layers, which only a step run in the image deletes on every builder, and the layers below it hold no rm to run",
      ]),
  ];
  test.skipIf(!registry).each(unsafe)(
    "%s: flattened, the same image, and why is said; pushed as the whole image too, so an unchanged re-upload sends almost nothing",
    async (_what, builder, top, why) => {
      await server.configure({ build: builder, registry, statuses: ["SUCCESS"], failFrom: undefined });
      const image = await loaded(`unsafe-${builder}`, "1", top, TOP_CONFIG.v1);
      const r = await upload(image, builder);
      expect(r.stderr).toContain(`Nothing can be reused: ${why}`);
      expect(r.received.length).toBe(1);
      const again = await upload(image, builder);
      expect(again.stderr).toContain("Reusing 3 of 3 layers");
      expect(again.received.length).toBe(1);
      expect(again.received[0]).toBeLessThanOrEqual(256 * KiB);
    },
    180_000,
  );

  test("--reuse never and a server without a registry prefix send the whole image, the latter saying why", async () => {
    const v1 = await version("plain", "v1");
    await server.reset();
    await server.configure({ build: "classic", registry: undefined, statuses: ["SUCCESS"] });
    const never = await runCli(["--context", "dockerfile", "--reuse", "never", "--input", v1.file, v1.local, ...FAST], {
      env: apiEnv(server),
    });
    expect(never.code, never.stderr).toBe(0);
    expect(never.stderr).not.toMatch(/Reusing|reused/);
    const none = await runCli(["--context", "dockerfile", "--input", v1.file, v1.local, ...FAST], { env: apiEnv(server) });
    expect(none.code, none.stderr).toBe(0);
    expect(none.stderr).toContain("Nothing can be reused: there is no registry prefix to keep base images in");
    expect((await server.state()).uploads.every((u) => u.entries.includes("rootfs.tar"))).toBe(true);
  }, 120_000);
});

/**
 * What reuse asks a server before it sends anything, on a server without a builder: an
 * image of 60 layers (more bases than are asked for), read from a file, in dry runs.
 */
describe("asking the server which bases it has", () => {
  let server: TestServer;
  let deep: string;
  const PREFIX = "registry.test/runtime";
  const args = () => ["--context", "dockerfile", "--form", "openhands", "--input", deep, "deep:1", "--dry-run", "--json"];
  const asked = async () => (await server.state()).requests.filter((q) => q.path === "/image_exists").length;

  beforeAll(async () => {
    server = await startServerProcess(["--statuses", "SUCCESS"]);
    deep = join(tempDir("ru-deep-"), "deep.tar");
    const layers = Array.from({ length: 60 }, (_, i) => [file(`layer-${i}.txt`, `${i}\n`)]);
    writeFileSync(deep, await saveArchiveOf(layers, { tag: "deep:1" }));
  });
  afterAll(() => server?.stop());

  test("an image of 60 layers costs at most 24 questions, the whole image's included, as the README says", async () => {
    await server.reset();
    await server.configure({ registryPrefix: PREFIX, faults: [] });
    const r = await runCli(args(), { env: apiEnv(server) });
    expect(r.code, r.stderr).toBe(0);
    expect(await asked()).toBe(24);
  });

  test("a server that answers each question slowly costs one budget for them all: the tool stops asking, says so, and sends the image whole", async () => {
    await server.reset();
    await server.configure({ registryPrefix: PREFIX, faults: [{ path: "/image_exists", late: 1500, times: 30 }] });
    const r = await runCli(args(), { env: apiEnv(server) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      "Nothing can be reused: the server took more than 20 s to say which images it has (GET /image_exists): stopped asking",
    );
    // 20 s of 1.5 s answers: far fewer than the 24 questions asked of a prompt server.
    expect(await asked()).toBeLessThanOrEqual(15);
    expect(JSON.parse(r.stdout).layers_reused).toBeNull();
  }, 60_000);

  test("a base the server built and then says does not exist: the whole image, once, the reason naming the base", async () => {
    await server.reset();
    await server.configure({ registryPrefix: PREFIX, faults: [], forgets: "runtime-upload-layers" });
    const layers = [0, 1, 2].map((i) => [file(`layer-${i}.txt`, `${i}\n`)]);
    const archive = join(tempDir("ru-lost-"), "lost.tar");
    writeFileSync(archive, await saveArchiveOf(layers, { tag: "lost:1" }));
    const r = await runCli(["--context", "dockerfile", "--form", "openhands", "--input", archive, "lost:1", "--json", ...FAST], {
      env: apiEnv(server),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /Warning: the build on a reused base failed \(the server built the base registry\.test\/runtime\/runtime-upload-layers:[0-9a-f]{64}, then said it does not exist\): sending the whole image instead, once/,
    );
    const uploads = (await server.state()).uploads;
    expect(uploads.map((u) => u.fields.target_image?.[0])).toEqual([expect.stringContaining("runtime-upload-layers:"), `${PREFIX}/lost:1`]);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, image: `${PREFIX}/lost:1`, build_kind: "image", layers_reused: null });
  });

  test("a dry run where the server has no base says what it would build and what it would send, never that the server has it", async () => {
    await server.reset();
    await server.configure({ registryPrefix: PREFIX, faults: [] });
    const r = await runCli(args(), { env: apiEnv(server) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("No base of these layers on the server yet: would build one of the bottom 59");
    expect(r.stderr).toMatch(/Would send 1 layer \([\d.]+ MiB\) on the new base of 59 layers/);
    expect(r.stderr).not.toContain("already on the server");
  });
});
