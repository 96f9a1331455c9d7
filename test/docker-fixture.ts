/** A Docker engine for end-to-end tests: .ci/run starts one and sets REQUIRE_DOCKER=1. */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { tempDir } from "./helpers.ts";
import { hostOsLayer, saveArchiveOf } from "./image-fixture.ts";

export function dockerAvailable(): boolean {
  const r = Bun.spawnSync(["docker", "version", "--format", "{{.Server.Version}}"], { stdout: "pipe", stderr: "pipe" });
  const ok = r.exitCode === 0 && r.stdout.toString().trim() !== "";
  if (!ok && process.env.REQUIRE_DOCKER === "1") {
    throw new Error(`REQUIRE_DOCKER=1 but no Docker engine answers: ${r.stderr.toString().trim()}`);
  }
  return ok;
}

function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
}

/**
 * Makes a local image with `docker import` of a generated rootfs (no registry, no
 * network): text, executable-like and random files, about `mib` MiB in all.
 */
export function importTestImage(tag: string, mib: number): string {
  const dir = tempDir("ru-rootfs-");
  const root = join(dir, "rootfs");
  sh(["mkdir", "-p", join(root, "etc"), join(root, "usr/bin"), join(root, "var/cache")]);
  writeFileSync(join(root, "etc/os-release"), `NAME=runtime-upload-test\nTAG=${tag}\n`);
  const chunk = 1024 * 1024;
  for (let i = 0; i < mib; i++) {
    const kind = i % 3;
    const body =
      kind === 0
        ? Buffer.from(`line ${i} of a text file that compresses well\n`.repeat(Math.ceil(chunk / 45))).subarray(0, chunk)
        : kind === 1
          ? Buffer.alloc(chunk, i & 0xff).map((b, j) => (j % 7 === 0 ? (b + j) & 0xff : b))
          : crypto.getRandomValues(new Uint8Array(chunk));
    writeFileSync(join(root, kind === 0 ? `etc/text${i}.conf` : kind === 1 ? `usr/bin/tool${i}` : `var/cache/blob${i}.gz`), body);
  }
  sh(["tar", "-C", root, "-cf", join(dir, "rootfs.tar"), "."]);
  sh(["docker", "import", join(dir, "rootfs.tar"), tag]);
  sh(["rm", "-rf", dir]);
  return tag;
}

export function removeImage(tag: string): void {
  Bun.spawnSync(["docker", "rmi", "-f", tag], { stdout: "ignore", stderr: "ignore" });
}

/**
 * The real docker CLI behind a stand-in in a folder of its own, first on PATH: each
 * command it is run with goes to `commands()`, and with `contextHost` it says its engine
 * is there (a context over ssh, a socket that is gone; "": it has no context command, as
 * an older CLI or podman's has not) while every other command reaches the real engine.
 */
export function wrappedDocker(contextHost?: string): { env: Record<string, string>; commands: () => string[] } {
  const real = Bun.which("docker");
  if (!real) throw new Error("no docker CLI on PATH");
  const dir = tempDir("ru-docker-cli-");
  const log = join(dir, "commands");
  const answer = contextHost ? `echo '${contextHost}'; exit 0` : `echo "docker: 'context' is not a docker command." >&2; exit 1`;
  const lines = [
    "#!/bin/sh",
    `echo "$*" >> '${log}'`,
    ...(contextHost === undefined ? [] : [`[ "$1" = context ] && { ${answer}; }`]),
    `exec '${real}' "$@"`,
  ];
  writeFileSync(join(dir, "docker"), `${lines.join("\n")}\n`);
  chmodSync(join(dir, "docker"), 0o755);
  return {
    env: { PATH: `${dir}:${process.env.PATH}` },
    commands: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []),
  };
}

/** sha256 of `docker save TAG`, streamed. */
export async function dockerSaveSha256(tag: string): Promise<string> {
  const proc = Bun.spawn(["docker", "save", tag], { stdout: "pipe", stderr: "pipe" });
  const h = new Bun.CryptoHasher("sha256");
  for await (const c of proc.stdout as ReadableStream<Uint8Array>) h.update(c);
  if ((await proc.exited) !== 0) throw new Error(`docker save ${tag} failed`);
  return h.digest("hex");
}

/**
 * The loopback registry .ci/run starts (docker-registry) and hands the tests' dockerd as
 * its registry mirror, so a `docker pull NAME` of a plain name is served here, never from
 * the internet. Undefined where none runs; under REQUIRE_DOCKER=1 that is a failure.
 */
export function testRegistry(): string | undefined {
  const reg = process.env.RU_TEST_REGISTRY;
  if (!reg && process.env.REQUIRE_DOCKER === "1") throw new Error("REQUIRE_DOCKER=1 but RU_TEST_REGISTRY names no registry");
  return reg || undefined;
}

/** Puts a local image where `docker pull NAME` finds it (the mirror's library/), then removes the local copy. */
export function publishToMirror(registry: string, name: string): void {
  const mirrored = `${registry}/library/${name}`;
  sh(["docker", "tag", name, mirrored]);
  sh(["docker", "push", mirrored]);
  removeImage(mirrored);
  removeImage(name);
}

/**
 * Images as an ordinary Dockerfile makes them, built here by the classic builder (no
 * network) on an OS layer of the host's shell and coreutils, made long ago as a FROM image
 * is: a RUN that installs, a RUN that cleans up (deleting what it installed and a file of
 * the OS layer), a RUN that changes a file of the OS layer, then COPY of the app. v2
 * changes the app only, built with the cache and, as a fresh CI runner would, without it.
 * `marker` makes the OS layer, and so every chain ID, this caller's own. With `podman`,
 * podman builds them, and each is copied into dockerd too (podman save | docker load),
 * under the same name, to compare with.
 */
export async function realImages(
  marker: string,
  work: string,
  engine: "docker" | "podman" = "docker",
): Promise<Record<"os" | "v1" | "v2" | "v2NoCache", string>> {
  const os = `ru-real-os-${marker}:1`;
  const osFile = join(work, `os-${marker}.tar`);
  writeFileSync(osFile, await saveArchiveOf([hostOsLayer(marker)], { tag: os, config: { Env: ["PATH=/bin"] } }));
  sh([engine, "load", "-q", "-i", osFile]);
  const context = join(work, `real-${marker}`);
  mkdirSync(join(context, "app"), { recursive: true });
  writeFileSync(
    join(context, "Dockerfile"),
    [
      `FROM ${os}`,
      "RUN mkdir -p /opt/tool /opt/cache /home/app && yes tool-data | head -c 3000000 > /opt/tool/bulk && echo a > /opt/tool/a && echo x > /opt/cache/x",
      "RUN rm -rf /opt/cache /opt/tool/a /etc/os-note",
      'RUN cp /etc/passwd /tmp/p && cat /tmp/p > /etc/passwd && echo "app:x:1000:1000::/home/app:/bin/sh" >> /etc/passwd && rm /tmp/p',
      "COPY app/ /app/",
      'CMD ["/app/main"]',
      "",
    ].join("\n"),
  );
  const images = { os, v1: "", v2: "", v2NoCache: "" };
  for (const [v, noCache] of [
    ["v1", false],
    ["v2", false],
    ["v2NoCache", true],
  ] as const) {
    writeFileSync(join(context, "app", "main"), `#!/bin/sh\necho ${v}\n`, { mode: 0o755 });
    writeFileSync(join(context, "app", "data.bin"), crypto.getRandomValues(new Uint8Array(64 * 1024)));
    images[v] = `ru-real-${marker}:${v.toLowerCase()}`;
    const args = [engine, "build", "-q", "--network", "none", ...(noCache ? ["--no-cache"] : []), "-t", images[v], context];
    const built = Bun.spawnSync(args, { env: { ...process.env, DOCKER_BUILDKIT: "0" }, stderr: "pipe" });
    if (built.exitCode !== 0) throw new Error(`${engine} build of ${images[v]} failed: ${built.stderr.toString()}`);
    if (engine === "podman") {
      sh(["sh", "-c", `podman save "$0" | docker load -q`, images[v]]);
      sh(["docker", "tag", `localhost/${images[v]}`, images[v]]);
      removeImage(`localhost/${images[v]}`);
    }
  }
  return images;
}

/** gzip -6 of each layer of `image` from position `first` up, added: what a registry push of those layers costs. */
export function layersGzip(image: string, first: number, work: string): number {
  const saved = join(work, "layers.tar");
  sh(["docker", "save", "-o", saved, image]);
  const [manifest] = JSON.parse(sh(["tar", "-xOf", saved, "manifest.json"])) as Array<{ Layers: string[] }>;
  const layers = manifest?.Layers.slice(first) ?? [];
  return layers.reduce((n, l) => n + gzipSync(Bun.spawnSync(["tar", "-xOf", saved, l]).stdout, { level: 6 }).byteLength, 0);
}
