/** A Docker engine for end-to-end tests: .ci/run starts one and sets REQUIRE_DOCKER=1. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./helpers.ts";

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
