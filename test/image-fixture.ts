/**
 * A docker save archive written by hand (with tar-stream, not our code): three layers that
 * exercise every rule a flattener must get right, and a config with every field a
 * Dockerfile must set again. `docker load` takes it as is, so the tests need no registry.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { packTar, type TarSpec } from "./helpers.ts";

const LONG_DIR = `usr/share/${"d".repeat(120)}`;
export const LONG_NAME = `${LONG_DIR}/${"f".repeat(101)}.txt`;
export const UNICODE_NAME = "usr/share/héllo-世界.txt";

/** A regular file entry, 0644 unless said. */
export const file = (name: string, body: string | Buffer, more: Omit<TarSpec, "name" | "body"> = {}): TarSpec => ({
  name,
  body,
  mode: 0o644,
  ...more,
});
/** A folder entry, 0755 unless said. */
export const dir = (name: string, more: Omit<TarSpec, "name" | "body"> = {}): TarSpec => ({
  name,
  type: "directory",
  mode: 0o755,
  ...more,
});

/** Bottom to top. */
function layers(xattr: boolean, duplicate: boolean): TarSpec[][] {
  return [
    [
      dir("bin/"),
      file("bin/tool", "#!/bin/tool\nv1\n", { mode: 0o755 }),
      { name: "bin/tool-link", type: "link", linkname: "bin/tool", mode: 0o755 },
      file("bin/suid", "setuid\n", { mode: 0o4755 }),
      file("bin/old-file", "deleted later\n"),
      { name: "bin/abs", type: "symlink", linkname: "/bin/tool" },
      { name: "bin/rel", type: "symlink", linkname: "tool" },
      dir("etc/"),
      file("etc/passwd", "root:x:0:0::/root:/bin/tool\napp:x:1000:1000::/home/app:/bin/tool\n"),
      dir("gone/"),
      file("gone/a", "a\n"),
      dir("gone/sub/"),
      file("gone/sub/b", "b\n"),
      dir("opq/"),
      file("opq/old1", "old1\n"),
      dir("opq/keep-not/"),
      file("opq/keep-not/x", "x\n"),
      dir("swap/"),
      file("swap/child", "under a folder that becomes a file\n"),
      dir("data/"),
      file("data/keep.txt", "kept\n"),
      file("data/replaced.txt", "old content, kept by its hard links\n"),
      { name: "data/hl-old", type: "link", linkname: "data/replaced.txt", mode: 0o644 },
      { name: "data/hl-old2", type: "link", linkname: "data/replaced.txt", mode: 0o644 },
      dir("empty/", { mode: 0o700 }),
      dir("home/"),
      dir("home/app/", { uid: 1000, gid: 1000, mode: 0o750 }),
      file("home/app/own.txt", "mine\n", { uid: 1000, gid: 1000, mode: 0o640 }),
      dir("usr/"),
      dir("usr/share/"),
      dir(`${LONG_DIR}/`),
      file(LONG_NAME, "a name over 100 bytes\n"),
      file(UNICODE_NAME, "non-ASCII\n"),
      ...(xattr ? [file("bin/capable", "cap\n", { mode: 0o755, pax: { "SCHILY.xattr.user.fixture": "1" } })] : []),
    ],
    [
      file("bin/.wh.old-file", ""),
      file(".wh.gone", ""),
      dir("opq/"),
      file("opq/.wh..wh..opq", ""),
      file("opq/new1", "new1\n"),
      file("swap", "now a file\n"),
      file("data/replaced.txt", "new content\n"),
      // docker load refuses a layer like this; containerd and tar take the later entry.
      ...(duplicate
        ? [file("etc/motd", "written first\n"), file("etc/motd", "written again in the same layer: this one counts\n", { mode: 0o600 })]
        : []),
      file("home/app/own.txt", "mine, changed\n", { uid: 1000, gid: 1000, mode: 0o600 }),
    ],
    [dir("gone/"), file("gone/again.txt", "back in a deleted folder\n"), file("bin/tool", "#!/bin/tool\nv2\n", { mode: 0o755 })],
  ];
}

export const FIXTURE_CONFIG = {
  Env: ["PATH=/bin:/usr/bin", 'GREETING=hello "world" $HOME \\ back`tick`', "SPACEY=a  b c", "EMPTY="],
  Entrypoint: ["/bin/tool", "--flag"],
  Cmd: ["serve", "--port", "8080"],
  User: "1000:1000",
  WorkingDir: "/home/app",
  ExposedPorts: { "8080/tcp": {}, "53/udp": {} },
  Labels: { "org.example.note": `it's "quoted" $x \\ too`, plain: "v" },
  Volumes: { "/data": {}, "/srv/a $b \"c\" 'd'": {} },
  Healthcheck: { Test: ["CMD", "/bin/tool", "health"], Interval: 30e9, Timeout: 5e9, StartPeriod: 1e9, Retries: 3 },
  StopSignal: "SIGINT",
  Shell: ["/bin/tool", "-c"],
};

/** Fixed owners and times, so the same fixture is the same bytes (and digests) every run. */
const tarBytes = (entries: TarSpec[]) => packTar(entries.map((e) => ({ uid: 0, gid: 0, mtime: new Date(1_700_000_000_000), ...e })));

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** The docker save archive of the fixture image, named `tag`. */
export function fixtureArchive(tag: string, o: { xattr?: boolean; duplicate?: boolean } = {}): Promise<Buffer> {
  return saveArchiveOf(layers(o.xattr ?? false, o.duplicate ?? false), { tag, config: FIXTURE_CONFIG });
}

/**
 * A docker save archive of these layers (bottom first), each its entries or its tar as is.
 * `manifestLayers` may rewrite the list the manifest names, and `entries` the archive's
 * entries once the config has named the layers, as a hostile archive would.
 */
export async function saveArchiveOf(
  layerEntries: Array<TarSpec[] | Buffer>,
  o: {
    tag?: string;
    config?: object;
    /** The image's architecture (and variant); the host's by default. */
    platform?: { architecture: string; variant?: string };
    manifestLayers?: (names: string[]) => string[];
    entries?: (entries: TarSpec[]) => TarSpec[];
  } = {},
): Promise<Buffer> {
  const tars = await Promise.all(layerEntries.map((l) => (Buffer.isBuffer(l) ? l : tarBytes(l))));
  const platform = o.platform ?? { architecture: process.arch === "arm64" ? "arm64" : "amd64" };
  const config = Buffer.from(
    JSON.stringify({
      ...platform,
      os: "linux",
      created: "2026-01-01T00:00:00Z",
      config: o.config ?? {},
      rootfs: { type: "layers", diff_ids: tars.map((t) => `sha256:${sha256(t)}`) },
      history: tars.map(() => ({ created: "2026-01-01T00:00:00Z", created_by: "fixture" })),
    }),
  );
  const configName = `${sha256(config)}.json`;
  const layerNames = tars.map((t) => `${sha256(t)}/layer.tar`);
  const manifest = JSON.stringify([
    { Config: configName, RepoTags: [o.tag ?? "fixture:1"], Layers: o.manifestLayers?.(layerNames) ?? layerNames },
  ]);
  const entries = [
    ...tars.flatMap((t, i) => [dir(`${sha256(t)}/`), file(layerNames[i] as string, t)]),
    file(configName, config),
    file("manifest.json", manifest),
  ];
  return tarBytes(o.entries?.(entries) ?? entries);
}

/** `entries` with the `n`th layer's tar (bottom first) put as `forged` under the same name: before the real one with `twice`, else instead of it. */
export function forgeLayer(n: number, forged: Buffer, twice = false): (entries: TarSpec[]) => TarSpec[] {
  return (entries) => {
    const layers = entries.filter((e) => e.name.endsWith("/layer.tar"));
    const real = layers[n] as TarSpec;
    const fake = { ...real, body: forged };
    return entries.flatMap((e) => (e !== real ? [e] : twice ? [fake, real] : [fake]));
  };
}

/** What an image's RUN steps need of the host: a shell and the coreutils they call, and the libraries those load. */
const HOST_TOOLS = ["sh", "rm", "mkdir", "cat", "head", "yes", "cp", "touch"];

/**
 * A small OS layer made of the host's own shell, coreutils and libc (no network, no
 * registry): the bottom of an image that real builders can RUN steps on. `marker` makes
 * its chain IDs its own; /etc/os-note and /etc/passwd are the files a later layer changes.
 */
export function hostOsLayer(marker: string): TarSpec[] {
  const bins = HOST_TOOLS.map((t) => Bun.which(t) as string);
  const ldd = Bun.spawnSync(["ldd", ...bins]).stdout.toString();
  const libs = [...new Set([...ldd.matchAll(/(\/[^\s:]+\.so[^\s:]*)/g)].map((m) => m[1] as string))];
  // /run as every distribution has it: buildah's RUN step makes an empty one where an image has none (README).
  const folders = new Set<string>(["bin/", "etc/", "run/", "tmp/"]);
  const files: TarSpec[] = [];
  for (const lib of libs) {
    const name = lib.slice(1);
    for (let at = name.indexOf("/"); at > 0; at = name.indexOf("/", at + 1)) folders.add(name.slice(0, at + 1));
    files.push(file(name, readFileSync(lib), { mode: 0o755 }));
  }
  for (const [i, tool] of HOST_TOOLS.entries()) files.push(file(`bin/${tool}`, readFileSync(bins[i] as string), { mode: 0o755 }));
  return [
    ...[...folders].sort().map((f) => dir(f, f === "tmp/" ? { mode: 0o1777 } : {})),
    ...files,
    file("etc/os-note", `an OS layer for the tests: ${marker}\n`),
    file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
  ];
}

/**
 * v1 and v2 of an image whose v2 deletes from v1's layers what a rebuild must delete with
 * RUN steps on the base v1 left: 2,600 files at paths of about 1 KB (what
 * `find -name '*.pyc' -delete` leaves; 2.6 MB of rm arguments), /etc/hosts, /etc/hostname
 * and /etc/resolv.conf (which every builder mounts over in a RUN step), and a path with a
 * line break. `changed`: the layers v2 has that v1 has not.
 */
export function deletionShape(marker: string): { v1: TarSpec[][]; v2: TarSpec[][]; changed: TarSpec[][] } {
  const deep = `srv/${Array.from({ length: 4 }, (_, i) => `${i}${"d".repeat(239)}`).join("/")}`;
  const pyc = Array.from({ length: 2600 }, (_, i) => `${deep}/m${String(i).padStart(4, "0")}.pyc`);
  const parents = deep.split("/").map((_, i, parts) => dir(`${parts.slice(0, i + 1).join("/")}/`));
  const whiteout = (path: string) => file(`${path.slice(0, path.lastIndexOf("/") + 1)}.wh.${path.slice(path.lastIndexOf("/") + 1)}`, "");
  const mounted = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];
  const os = [...hostOsLayer(marker), ...mounted.map((p) => file(p, `${p} of the image\n`))];
  const junk = [...parents, ...pyc.map((p) => file(p, "c")), dir("data/"), file("data/keep", "kept\n"), file("data/new\nline", "x")];
  const cleanup = [...parents, ...pyc.map(whiteout), dir("data/"), whiteout("data/new\nline"), dir("etc/"), ...mounted.map(whiteout)];
  const app = (v: string) => [dir("app/"), file("app/version", `${v}\n`)];
  return { v1: [os, junk, app("1")], v2: [os, junk, cleanup, app("2")], changed: [cleanup, app("2")] };
}

/**
 * The reuse rows' image: two bottom layers (one bulky, one deleting from it), unique to
 * `marker` so each row starts with no base, under a top layer that v2 changes.
 */
export function bottomLayers(marker: string): TarSpec[][] {
  const bulk = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < bulk.length; i += 4) bulk.writeUInt32LE((i * 2654435761) >>> 0, i);
  return [
    [
      dir("base/"),
      file("base/marker", `${marker}\n`),
      file("base/bulk.bin", bulk),
      file("base/gone.txt", "deleted in v2\n"),
      dir("opq/"),
      file("opq/old", "hidden in v2\n"),
    ],
    // Deletions below the split: the base is flattened, so they hold whatever the builder does with whiteouts.
    [
      dir("etc/"),
      file("etc/motd", "hello\n"),
      dir("home/"),
      dir("home/app/", { uid: 1000, gid: 1000, mode: 0o750 }),
      file("base/.wh.gone.txt", ""),
      dir("opq/"),
      file("opq/.wh..wh..opq", ""),
      file("opq/new", "only this\n"),
    ],
  ];
}

export const TOP_LAYERS = {
  v1: [dir("app/"), file("app/version", "1\n"), file("app/main", "#!/bin/sh\necho v1\n", { mode: 0o755 })],
  v2: [
    dir("app/"),
    file("app/version", "2\n"),
    file("app/main", "#!/bin/sh\necho v2\n", { mode: 0o700, uid: 1000, gid: 1000 }),
    { name: "app/main-link", type: "link", linkname: "app/main", mode: 0o700, uid: 1000, gid: 1000 },
    file("home/app/note", "mine\n", { uid: 1000, gid: 1000, mode: 0o600 }),
  ] as TarSpec[],
};

/** The config of each version of the reuse rows' image. */
export const TOP_CONFIG = {
  v1: { Env: ["PATH=/bin", "VERSION=1"], Cmd: ["/app/main"], Labels: { release: "1" } },
  v2: { Env: ["PATH=/bin", "VERSION=2"], Cmd: ["/app/main", "--v2"], WorkingDir: "/app" },
};
