/**
 * The test server's builder mode, as the live builder service works: each received
 * context is built on a "fresh worker" (no image under the server's registry prefix in the
 * builder's store, so a FROM of one is pulled from the registry), with the classic
 * builder, BuildKit or buildah, and the result and its tags pushed to a real registry
 * (docker-registry on loopback), from which GET /image_exists then answers.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type Builder = "classic" | "buildkit" | "buildah";

/** A build in progress: RUNNING until it ends in SUCCESS or FAILURE:message. */
export interface RealBuild {
  status: string;
}

/** buildah keeps its store here, one per server process, removed with it. */
let buildahRoot: string | undefined;
function buildah(args: string[]): string[] {
  buildahRoot ??= mkdtempSync(join(tmpdir(), "ru-buildah-"));
  return ["buildah", "--storage-driver", "vfs", "--root", join(buildahRoot, "root"), "--runroot", join(buildahRoot, "run"), ...args];
}

export function removeBuildahStore(): void {
  if (buildahRoot) rmSync(buildahRoot, { recursive: true, force: true });
}

async function run(cmd: string[], o: { stdin?: Blob; env?: Record<string, string> } = {}): Promise<string | undefined> {
  const proc = Bun.spawn(cmd, { stdin: o.stdin ?? "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, ...o.env } });
  const err = await new Response(proc.stderr).text();
  return (await proc.exited) === 0 ? undefined : `${cmd[0]} ${cmd[1]} failed: ${err.trim().split("\n").slice(-3).join(" ")}`;
}

/**
 * Removes every image under `prefix` (the server's own) from the builder's store: the next
 * FROM must pull. buildah's store is the server's alone; dockerd is shared with whatever
 * else runs, which keeps what is not ours.
 */
async function freshWorker(builder: Builder, prefix: string): Promise<void> {
  if (builder === "buildah") {
    await run(buildah(["rmi", "--all", "--force"]));
    return;
  }
  const list = Bun.spawnSync(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.toString().split("\n");
  const ours = list.filter((n) => n.startsWith(`${prefix}/`));
  if (ours.length > 0) await run(["docker", "rmi", "-f", ...ours]);
}

/**
 * Builds `context` (a tar) as `image`, tagged also as `tags`; with a registry, on a fresh
 * worker, then pushed there and removed from the worker. The state follows it.
 */
export function realBuild(context: string, image: string, tags: string[], builder: Builder, prefix: string | undefined): RealBuild {
  const state: RealBuild = { status: "RUNNING" };
  const names = [image, ...tags];
  void (async () => {
    let failed: string | undefined;
    try {
      if (prefix) await freshWorker(builder, prefix);
      failed = builder === "buildah" ? await buildahBuild(context, names) : await dockerBuild(context, names, builder);
      for (const name of prefix ? names : []) {
        if (failed) break;
        failed =
          builder === "buildah"
            ? await run(buildah(["push", "--tls-verify=false", name, `docker://${name}`]))
            : await run(["docker", "push", name]);
      }
      if (prefix && !failed && builder !== "buildah") await run(["docker", "rmi", "-f", ...names]);
    } finally {
      rmSync(context, { force: true });
    }
    state.status = failed ? `FAILURE:${failed}` : "SUCCESS";
  })();
  return state;
}

/** `docker build -t IMAGE -` on the context; BuildKit needs the engine's own CLI (no buildx here). */
function dockerBuild(context: string, names: string[], builder: "classic" | "buildkit"): Promise<string | undefined> {
  const docker = builder === "buildkit" && Bun.which("docker", { PATH: "/usr/bin" }) ? "/usr/bin/docker" : "docker";
  // No network on this machine: a RUN step (a context that deletes from its base) runs without one.
  return run([docker, "build", "-q", "--network", "none", ...names.flatMap((n) => ["-t", n]), "-"], {
    stdin: Bun.file(context),
    env: { DOCKER_BUILDKIT: builder === "buildkit" ? "1" : "0" },
  });
}

/** buildah reads a folder: the context unpacked; Docker's format keeps HEALTHCHECK and SHELL. */
async function buildahBuild(context: string, names: string[]): Promise<string | undefined> {
  const dir = `${context}.d`;
  mkdirSync(dir);
  try {
    const untar = await run(["tar", "-xf", context, "-C", dir]);
    if (untar) return untar;
    const tags = names.flatMap((n) => ["-t", n]);
    // chroot isolation runs a RUN step in the host's network, and refuses any other.
    const flags = ["--isolation", "chroot", "--format", "docker", "--tls-verify=false", "-q"];
    return await run(buildah(["bud", ...flags, ...tags, dir]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const MANIFESTS = { accept: "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json" };

/** `image` (registry/repo:tag) as the registry's manifest URL. */
function manifestUrl(registry: string, image: string): { repo: string; url: string } {
  const rest = image.slice(registry.length + 1);
  const at = rest.lastIndexOf(":");
  const [repo, tag] = at > 0 ? [rest.slice(0, at), rest.slice(at + 1)] : [rest, "latest"];
  return { repo, url: `http://${registry}/v2/${repo}/manifests/${tag}` };
}

/** Whether the registry holds `image` (registry/repo:tag), asked of the registry itself. */
export async function inRegistry(registry: string, image: string): Promise<boolean> {
  return (await fetch(manifestUrl(registry, image).url, { method: "HEAD", headers: MANIFESTS })).ok;
}

/** Deletes `image` from the registry (a clean-up, as a registry's garbage collection would). */
export async function deleteFromRegistry(registry: string, image: string): Promise<void> {
  const { repo, url } = manifestUrl(registry, image);
  const digest = (await fetch(url, { method: "HEAD", headers: MANIFESTS })).headers.get("docker-content-digest");
  if (!digest) throw new Error(`${image} is not in the registry`);
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${digest}`, { method: "DELETE" });
  if (res.status !== 202) throw new Error(`DELETE ${image}: HTTP ${res.status}`);
}
