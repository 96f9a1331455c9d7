/**
 * --context dockerfile: the image flattened into a build context that rebuilds it. The
 * flattening is checked entry by entry on a hand-written docker save archive (no engine
 * needed); then, with the tests' dockerd, the context is built for real by the test server
 * (classic builder and BuildKit) from the engine, a docker save file and a skopeo OCI
 * layout, and the rebuilt image must match the original path for path and in its config.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { extract } from "tar-stream";
import { baseName, chainIds } from "../src/context/base-images.ts";
import { archiveDocuments } from "../src/context/image-archive.ts";
import { seekEntries } from "../src/tar/list.ts";
import { dockerAvailable, importTestImage, removeImage, testRegistry } from "./docker-fixture.ts";
import { apiEnv, hasTool, runCli, startServerProcess, type TestServer, tarOf, tempDir } from "./helpers.ts";
import { listing, type Node, snapshot } from "./image-compare.ts";
import { FIXTURE_CONFIG, file, fixtureArchive, LONG_NAME, saveArchiveOf, UNICODE_NAME } from "./image-fixture.ts";

const hasDocker = dockerAvailable();
const hasSkopeo = hasTool("skopeo");
const FAST = ["--poll-interval", "0.05"];

/** The context's two entries: its Dockerfile and the root filesystem's listing. */
async function readContext(file: string): Promise<{ dockerfile: string; rootfs: Map<string, Node>; names: string[] }> {
  const files = new Map<string, Buffer>();
  const x = extract();
  const done = (async () => {
    for await (const entry of x) {
      const parts: Buffer[] = [];
      for await (const c of entry) parts.push(c as Buffer);
      files.set(entry.header.name, Buffer.concat(parts));
    }
  })();
  x.end(gunzipSync(readFileSync(file)));
  await done;
  return {
    dockerfile: files.get("Dockerfile")?.toString() ?? "",
    rootfs: await listing(new Uint8Array(files.get("rootfs.tar") ?? Buffer.alloc(1024))),
    names: [...files.keys()],
  };
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** A docker save archive that cannot be flattened: a zstd layer, or two images. */
async function oddArchive(kind: "zstd" | "two"): Promise<Uint8Array> {
  const zstd = new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, ...new Array(60).fill(0)]);
  const empty = new Uint8Array(1024);
  const layer = kind === "zstd" ? zstd : empty;
  const image = (tag: string) => ({ Config: "c.json", RepoTags: [tag], Layers: ["l/layer.tar"] });
  const manifest = kind === "zstd" ? [image("a:1")] : [image("a:1"), image("b:1")];
  return tarOf({
    "l/layer.tar": layer,
    "c.json": JSON.stringify({ config: {}, rootfs: { type: "layers", diff_ids: [] } }),
    "manifest.json": JSON.stringify(manifest),
  });
}
let dir: string;
let archive: string;

beforeAll(async () => {
  dir = tempDir("ru-context-");
  archive = join(dir, "fixture.tar");
  writeFileSync(archive, await fixtureArchive("ru-context-fixture:1"));
});

describe("the flattened root filesystem (a docker save file, no engine)", () => {
  let rootfs: Map<string, Node>;
  let dockerfile: string;
  beforeAll(async () => {
    const out = join(dir, "ctx.tar.gz");
    const r = await runCli(["--dry-run", "--context", "dockerfile", "--input", archive, "--output", out, "ru-context-fixture:1"]);
    expect(r.code).toBe(0);
    ({ rootfs, dockerfile } = await readContext(out));
  });

  test.each([
    ["a whiteout deletes a file of a lower layer", "bin/old-file"],
    ["a whiteout deletes a folder and all under it", "gone/a"],
    ["…including its subfolders", "gone/sub/b"],
    ["an opaque folder hides what lower layers put in it", "opq/old1"],
    ["…folders included", "opq/keep-not/x"],
    ["a folder replaced by a file takes its children with it", "swap/child"],
    ["no whiteout or opaque marker is left behind", "opq/.wh..wh..opq"],
  ])("%s", (_what, path) => {
    expect(rootfs.has(path)).toBe(false);
  });

  test.each([
    ["a file re-created in a deleted folder is there", "gone/again.txt", { type: "file", sha256: sha("back in a deleted folder\n") }],
    ["the opaque folder keeps its own new entries", "opq/new1", { type: "file", sha256: sha("new1\n") }],
    ["a file replaced by an upper layer has the upper content", "bin/tool", { type: "file", sha256: sha("#!/bin/tool\nv2\n") }],
    ["a folder replaced by a file is that file", "swap", { type: "file", sha256: sha("now a file\n") }],
    [
      "a hard link to a file replaced above keeps the old content",
      "data/hl-old",
      { type: "file", sha256: sha("old content, kept by its hard links\n") },
    ],
    ["…and the other links to it link to that one", "data/hl-old2", { type: "link", linkname: "data/hl-old" }],
    ["the replaced file has its new content", "data/replaced.txt", { type: "file", sha256: sha("new content\n") }],
    ["a link to the old tool keeps the old tool", "bin/tool-link", { type: "file", sha256: sha("#!/bin/tool\nv1\n") }],
    ["setuid survives", "bin/suid", { mode: 0o4755 }],
    ["owner and mode of the upper version win", "home/app/own.txt", { uid: 1000, gid: 1000, mode: 0o600 }],
    ["a folder's owner survives", "home/app", { type: "directory", uid: 1000, gid: 1000, mode: 0o750 }],
    ["an empty folder survives with its mode", "empty", { type: "directory", mode: 0o700 }],
    ["an absolute symlink survives", "bin/abs", { type: "symlink", linkname: "/bin/tool" }],
    ["a relative symlink survives", "bin/rel", { type: "symlink", linkname: "tool" }],
    ["a name over 100 bytes survives", LONG_NAME, { type: "file", sha256: sha("a name over 100 bytes\n") }],
    ["a non-ASCII name survives", UNICODE_NAME, { type: "file", sha256: sha("non-ASCII\n") }],
  ])("%s", (_what, path, want) => {
    expect(rootfs.get(path)).toMatchObject(want);
  });

  test("a path written twice in one layer is the later entry, as containerd and tar unpack it", async () => {
    const twice = join(dir, "twice.tar");
    writeFileSync(twice, await fixtureArchive("ru-context-twice:1", { duplicate: true }));
    const out = join(dir, "ctx-twice.tar.gz");
    const r = await runCli(["--dry-run", "--context", "dockerfile", "--input", twice, "--output", out, "img:1"]);
    expect(r.code, r.stderr).toBe(0);
    const got = (await readContext(out)).rootfs;
    expect(got.get("etc/motd")).toMatchObject({ mode: 0o600, sha256: sha("written again in the same layer: this one counts\n") });
    expect(got.size).toBe(rootfs.size + 1);
  });

  test("a gzip'd docker save file flattens to the same root filesystem", async () => {
    const gz = join(dir, "fixture.tar.gz");
    writeFileSync(gz, gzipSync(readFileSync(archive)));
    const out = join(dir, "ctx-gz.tar.gz");
    const r = await runCli(["--dry-run", "--context", "dockerfile", "--input", gz, "--output", out, "ru-context-fixture:1"]);
    expect(r.code).toBe(0);
    expect((await readContext(out)).rootfs).toEqual(rootfs);
  });

  test("the Dockerfile starts FROM scratch, adds the root filesystem, then sets the config", () => {
    const lines = dockerfile.trim().split("\n");
    expect(lines[0]).toMatch(/^FROM --platform=linux\/(amd64|arm64) scratch$/);
    expect(lines).toContain("ADD rootfs.tar /");
    expect(lines).toContain(`ENTRYPOINT ${JSON.stringify(FIXTURE_CONFIG.Entrypoint)}`);
    expect(lines.at(-1)).toBe(`CMD ${JSON.stringify(FIXTURE_CONFIG.Cmd)}`);
  });
});

describe("what --context dockerfile cannot do is said", () => {
  test("standard input cannot be flattened: a usage of files is suggested", async () => {
    const r = await runCli(["--dry-run", "--context", "dockerfile", "--input", "-", "img:1"], { stdin: new Blob([readFileSync(archive)]) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot flatten standard input");
    expect(r.stderr).toContain("--input image.tar");
  });

  test("extended attributes (file capabilities) are passed on with a note that a builder may drop them", async () => {
    const withXattr = join(dir, "xattr.tar");
    writeFileSync(withXattr, await fixtureArchive("ru-context-xattr:1", { xattr: true }));
    const r = await runCli(["--dry-run", "--context", "dockerfile", "--input", withXattr, "img:1"]);
    expect(r.code).toBe(0);
    expect(r.stderr + r.stdout).toContain("1 entries carry extended attributes");
  });

  test("a torn archive is refused before anything is sent", async () => {
    const torn = join(dir, "torn.tar");
    const bytes = readFileSync(archive);
    writeFileSync(torn, bytes.subarray(0, bytes.length >> 1));
    const out = join(dir, "torn.tar.gz");
    const r = await runCli(["--dry-run", "--context", "dockerfile", "--input", torn, "-o", out, "img:1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("is not a complete tar archive");
    expect(Bun.file(out).size).toBe(0);
  });

  test.each([
    ["zstd layers", "zstd", "is zstd-compressed, which cannot be flattened here"],
    ["two images in one archive", "two", "holds 2 images, and one is flattened at a time"],
  ])("an archive with %s is refused with what to do instead", async (_what, kind, message) => {
    const file = join(dir, `${kind}.tar`);
    writeFileSync(file, await oddArchive(kind as "zstd" | "two"));
    const r = await runCli(["--dry-run", "--context", "dockerfile", "--input", file, "img:1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain("hint:");
  });

  test("--dry-run --output where reuse would plan several contexts writes the one that builds by itself, and says why", async () => {
    const layers = [0, 1, 2].map((i) => [file(`layer-${i}.txt`, `${i}\n`)]);
    const layered = join(dir, "layered.tar");
    const bytes = await saveArchiveOf(layers, { tag: "layered:1" });
    writeFileSync(layered, bytes);
    const ids = (await archiveDocuments(seekEntries(layered, bytes.byteLength))).identity?.diffIds ?? [];
    const server = await startServerProcess();
    try {
      // The server has a base of the bottom two: without --output, the plan is the top layer on it.
      await server.configure({ registryPrefix: "reg.test/runtime", existing: [baseName("reg.test/runtime", chainIds(ids)[1] as string)] });
      const out = join(dir, "planned.tar.gz");
      const args = ["--dry-run", "--context", "dockerfile", "--form", "openhands", "--input", layered, "layered:1"];
      const r = await runCli([...args, "--output", out], { env: apiEnv(server) });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain("Nothing can be reused: --output writes one context that builds by itself");
      const context = await readContext(out);
      expect(context.dockerfile.split("\n")[0]).toMatch(/^FROM (--platform=\S+ )?scratch$/);
      expect([...context.rootfs.keys()].sort()).toEqual(["layer-0.txt", "layer-1.txt", "layer-2.txt"]);
      expect((await runCli(args, { env: apiEnv(server) })).stderr).toContain("Reusing 2 of 3 layers");
    } finally {
      server.stop();
    }
  });

  test("--output without --dry-run is a usage error", async () => {
    const r = await runCli(["--context", "dockerfile", "--output", join(dir, "x"), "img:1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--output writes what a dry run would send");
  });
});

const CONFIG_FIELDS = Object.keys(FIXTURE_CONFIG);

/** The fixture image loaded into the engine as `name`: its docker save file and its files, to compare rebuilds with. */
async function loadedFixture(name: string, file: string): Promise<{ saved: string; want: Map<string, Node> }> {
  writeFileSync(join(dir, `${file}-load.tar`), await fixtureArchive(name));
  expect(Bun.spawnSync(["docker", "load", "-q", "-i", join(dir, `${file}-load.tar`)]).exitCode).toBe(0);
  const saved = join(dir, `${file}.tar`);
  expect(Bun.spawnSync(["docker", "save", "-o", saved, name]).exitCode).toBe(0);
  return { saved, want: await snapshot(name) };
}

function config(image: string): Record<string, unknown> {
  const c = JSON.parse(Bun.spawnSync(["docker", "image", "inspect", image, "--format", "{{json .Config}}"]).stdout.toString());
  return Object.fromEntries(CONFIG_FIELDS.map((k) => [k, c[k] ?? null]));
}

describe.skipIf(!hasDocker)("a real builder rebuilds the same image from the context", () => {
  const original = `ru-context-fixture:${process.pid}`;
  let server: TestServer;
  let saved: string;
  let layout: string;
  let want: Map<string, Node>;
  const made: string[] = [original];

  beforeAll(async () => {
    ({ saved, want } = await loadedFixture(original, "saved"));
    layout = join(dir, "oci");
    if (hasSkopeo) expect(Bun.spawnSync(["skopeo", "copy", "--quiet", `docker-archive:${saved}`, `oci:${layout}`]).exitCode).toBe(0);
    server = await startServerProcess(["--statuses", "SUCCESS"]);
  });

  afterAll(() => {
    server?.stop();
    for (const image of made) removeImage(image);
  });

  const sources = [
    { from: "the engine", input: [] as string[] },
    { from: "a docker save file", input: ["--input", "SAVED"] },
    { from: "an OCI layout made by skopeo (gzip'd layers)", input: ["--input", "LAYOUT"], skopeo: true },
  ];
  const builders = ["classic", "buildkit"] as const;
  const rows = sources.flatMap((s) => builders.map((b) => ({ ...s, builder: b })));

  test.each(rows)(
    "from $from, with the $builder builder",
    async ({ input, builder, skopeo }) => {
      if (skopeo && !hasSkopeo) return;
      // The server builds under a name of its own, so the original (the engine's source) stays.
      const target = `ru-context-rebuilt-${process.pid}:${builder}-${made.length}`;
      made.push(target);
      await server.configure({ build: builder, image: target });
      const args = input.map((a) => (a === "SAVED" ? saved : a === "LAYOUT" ? layout : a));
      const r = await runCli(["--context", "dockerfile", ...args, original, ...FAST], { env: apiEnv(server) });
      expect(r.stderr).not.toContain("Error");
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(target);
      // An OCI image config has no Healthcheck or Shell (Docker's own fields): skopeo drops them.
      const wantConfig = skopeo ? { ...config(original), Healthcheck: null, Shell: null } : config(original);
      expect(config(target)).toEqual(wantConfig);
      const got = await snapshot(target);
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [path, node] of want) expect({ path, ...got.get(path) }).toEqual({ path, ...node });
    },
    120_000,
  );

  test("with the [OH] form (base64) inside the server's registry prefix: the same image, under the prefixed name", async () => {
    const prefix = "registry.test/acme";
    const target = `${prefix}/${original}`;
    made.push(target);
    // A reset drops the name an earlier row set, so the server builds target_image itself.
    await server.reset();
    await server.configure({ build: "buildkit", registryPrefix: prefix, statuses: ["SUCCESS"] });
    const r = await runCli(["--context", "dockerfile", "--form", "openhands", "--input", saved, original, ...FAST], {
      env: apiEnv(server),
    });
    expect(r.stderr).not.toContain("Error");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(target);
    expect((await server.state()).uploads[0]?.shape).toBe("oh");
    expect(config(target)).toEqual(config(original));
    const got = await snapshot(target);
    for (const [path, node] of want) expect({ path, ...got.get(path) }).toEqual({ path, ...node });
  }, 120_000);

  test("an image archive sent to a builder server is refused there, and said so", async () => {
    await server.configure({ build: "classic", image: undefined });
    const r = await runCli(["--input", saved, `ru-context-refused-${process.pid}:1`, ...FAST], { env: apiEnv(server) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no Dockerfile");
    expect(r.stderr).toContain("hint: this server builds from a Dockerfile context: run again with --context dockerfile");
  });

  test("a Dockerfile context sent to an image-loading server: the hint names --context image", async () => {
    await server.reset();
    const r = await runCli(["--context", "dockerfile", "--input", saved, `ru-context-refused-${process.pid}:2`, ...FAST], {
      env: apiEnv(server),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("manifest.json");
    expect(r.stderr).toContain("hint: this server loads image archives: run again with --context image");
  });
});

describe.skipIf(!hasDocker)("an image with no config of its own (docker import) rebuilds with only the builder's defaults added", () => {
  const imported = `ru-context-imported-${process.pid}:1`;
  const made: string[] = [imported];
  let server: TestServer;
  let want: Map<string, Node>;

  beforeAll(async () => {
    importTestImage(imported, 2);
    want = await snapshot(imported);
    server = await startServerProcess(["--statuses", "SUCCESS"]);
  });

  afterAll(() => {
    server?.stop();
    for (const image of made) removeImage(image);
  });

  // README, "what a rebuild does not carry": FROM scratch gets the builder's PATH, and BuildKit records WORKDIR /.
  const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

  test.each(["classic", "buildkit"] as const)(
    "with the %s builder",
    async (builder) => {
      const target = `ru-context-imported-rebuilt-${process.pid}:${builder}`;
      made.push(target);
      await server.configure({ build: builder, image: target });
      const r = await runCli(["--context", "dockerfile", "--pull", "never", imported, ...FAST], { env: apiEnv(server) });
      expect(r.code, r.stderr).toBe(0);
      const before = config(imported);
      expect(before.Env).toBeNull();
      expect(config(target)).toEqual({ ...before, Env: [DEFAULT_PATH], ...(builder === "buildkit" ? { WorkingDir: "/" } : {}) });
      const got = await snapshot(target);
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [path, node] of want) expect({ path, ...got.get(path) }).toEqual({ path, ...node });
    },
    120_000,
  );
});

/**
 * The builder server as the live service is one: every context built on a fresh worker
 * with each builder, pushed to a real registry (docker-registry on loopback), named inside
 * the prefix /registry_prefix gives, confirmed by /image_exists from the registry; then
 * pulled back here and compared with the original, path for path, field for field.
 */
describe.skipIf(!hasDocker)("a builder server pushing to a real registry rebuilds the same image", () => {
  const original = `ru-context-pushed-${process.pid}:1`;
  const registry = hasDocker ? testRegistry() : undefined;
  let server: TestServer;
  let saved: string;
  let want: Map<string, Node>;
  const pulled: string[] = [original];

  beforeAll(async () => {
    ({ saved, want } = await loadedFixture(original, "pushed"));
    server = await startServerProcess(["--statuses", "SUCCESS"]);
  }, 60_000);

  afterAll(() => {
    server?.stop();
    for (const image of pulled) removeImage(image);
  });

  const builders = ["classic", "buildkit", ...(hasTool("buildah") ? ["buildah" as const] : [])] as const;
  test.skipIf(!registry).each(builders)(
    "with %s: pushed under the server's prefix, confirmed from the registry, and the same when pulled back",
    async (builder) => {
      await server.reset();
      await server.configure({ build: builder, registry, statuses: ["SUCCESS"] });
      const local = `${original.split(":")[0]}-${builder}:1`;
      const prefix = (await server.state()).registryPrefix;
      const target = `${prefix}/${local}`;
      const r = await runCli(["--context", "dockerfile", "--form", "openhands", "--input", saved, local, "stable", ...FAST], {
        env: apiEnv(server),
      });
      expect(r.stderr).not.toContain("Error");
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(target);
      expect(r.stderr).toContain(`Target image: ${target} (registry prefix ${prefix} from the server)`);
      expect(r.stderr).toContain(`Confirmed on the Runtime-API: ${target}`);
      const [up] = (await server.state()).uploads;
      expect(up?.bodyBytes).toBeGreaterThan(0);
      for (const name of [target, `${prefix}/${local.split(":")[0]}:stable`]) {
        pulled.push(name);
        const pull = Bun.spawnSync(["docker", "pull", "-q", name], { stderr: "pipe" });
        expect(pull.exitCode, pull.stderr.toString()).toBe(0);
      }
      // buildah stamps its version as a label on what it builds; the rest is the original's.
      const got = config(target);
      const labels = { ...(got.Labels as Record<string, string>) };
      delete labels["io.buildah.version"];
      expect({ ...got, Labels: labels } as Record<string, unknown>).toEqual(config(original));
      const files = await snapshot(target);
      expect([...files.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [path, node] of want) expect({ path, ...files.get(path) }).toEqual({ path, ...node });
    },
    180_000,
  );
});
