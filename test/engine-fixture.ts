/**
 * The engines users run beside dockerd's classic store, for end-to-end tests. podman is
 * the real one, with a store of the tests' own (.ci/run sets CONTAINERS_STORAGE_CONF).
 * Docker's containerd image store cannot run here (Debian's docker.io is 20.10), so it is
 * stood in for by what its own parts write: containerd's exporter (`ctr images export`,
 * the code behind that store's `docker save`) run on the containerd dockerd starts, and
 * an `image inspect` that answers as Docker 29 does (the ID and Descriptor name the
 * manifest or index; RootFS.Layers the diff IDs).
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, tempDir } from "./helpers.ts";

const required = () => process.env.REQUIRE_DOCKER === "1";

function sh(cmd: string[], env?: Record<string, string>): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
}

const sha256 = (b: Uint8Array | string) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/** What the tool's and the tests' podman need to use the tests' store; undefined where there is none. */
export function podmanEnv(): Record<string, string> | undefined {
  const conf = process.env.CONTAINERS_STORAGE_CONF;
  const ok = !!conf && existsSync(conf) && !!Bun.which("podman");
  if (!ok && required()) throw new Error("REQUIRE_DOCKER=1 but podman or CONTAINERS_STORAGE_CONF (a store of the tests' own) is missing");
  return ok ? { CONTAINERS_STORAGE_CONF: conf as string } : undefined;
}

export function podman(args: string[]): string {
  return sh(["podman", ...args]);
}

/** podman run by a user of its own (.ci/run makes one, RU_TEST_ROOTLESS_USER), with a store in a folder of this run's. */
export interface RootlessPodman {
  /** How runCli runs the tool as that user (from a folder it can reach: the tests' own are root's alone). */
  as: { command: string[]; bin: string; cwd: string };
  env: Record<string, string>;
  /** Loads a docker save archive, read by this process (the user cannot read the tests' folders). */
  load(file: string): void;
  rmi(images: string[]): void;
}

export function rootlessPodman(): RootlessPodman | undefined {
  const user = process.env.RU_TEST_ROOTLESS_USER;
  const ok = !!user && ["podman", "setpriv", "newuidmap"].every((t) => Bun.which(t));
  if (!ok && required()) throw new Error("REQUIRE_DOCKER=1 but RU_TEST_ROOTLESS_USER, setpriv or newuidmap (rootless podman) is missing");
  if (!ok) return undefined;
  const dir = tempDir("ru-rootless-");
  const [uid, gid] = [sh(["id", "-u", user as string]), sh(["id", "-g", user as string])];
  // Its runtime folder too: podman would otherwise leave /tmp/podman-run-UID and /tmp/containers-user-UID behind.
  for (const d of ["home", "root", "run", "xdg"]) mkdirSync(join(dir, d), { mode: 0o700 });
  const conf = join(dir, "storage.conf");
  writeFileSync(conf, `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/root"\nrunroot = "${dir}/run"\n`);
  const bin = join(dir, "runtime-upload");
  copyFileSync(BIN, bin);
  chmodSync(bin, 0o755);
  chmodSync(dir, 0o755);
  sh(["chown", "-R", `${uid}:${gid}`, dir]);
  const command = ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--init-groups", "--"];
  const env = { HOME: join(dir, "home"), XDG_RUNTIME_DIR: join(dir, "xdg"), CONTAINERS_STORAGE_CONF: conf };
  const podmanAs = (args: string[], stdin?: Blob) => {
    const r = Bun.spawnSync([...command, "podman", ...args], {
      stdin,
      stdout: "pipe",
      stderr: "pipe",
      cwd: dir,
      env: { ...process.env, ...env },
    });
    if (r.exitCode !== 0) throw new Error(`rootless podman ${args.join(" ")} failed: ${r.stderr.toString()}`);
  };
  const info = Bun.spawnSync([...command, "podman", "info", "--format", "{{.Host.Security.Rootless}}"], {
    cwd: dir,
    env: { ...process.env, ...env },
  });
  if (info.stdout.toString().trim() !== "true") throw new Error(`podman as ${user} is not rootless: ${info.stderr.toString()}`);
  return {
    as: { command, bin, cwd: dir },
    env,
    load: (file) => podmanAs(["load", "-q"], Bun.file(file)),
    rmi: (images) => {
      if (images.length > 0) podmanAs(["rmi", "-f", ...images]);
    },
  };
}

/** The socket of the containerd dockerd started (.ci/run sets RU_TEST_CONTAINERD); undefined where there is none. */
export function containerdAddress(): string | undefined {
  const address = process.env.RU_TEST_CONTAINERD;
  const ok = !!address && existsSync(address) && !!Bun.which("ctr") && !!Bun.which("skopeo");
  if (!ok && required()) throw new Error("REQUIRE_DOCKER=1 but ctr, skopeo or RU_TEST_CONTAINERD (containerd's socket) is missing");
  return ok ? address : undefined;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/**
 * Docker with the containerd image store, as the tool meets it: a `docker` first on PATH
 * whose saves are what containerd's exporter wrote for each image, layers gzip'd (as the
 * store holds pulled and BuildKit-built images).
 */
export class ContainerdStore {
  readonly dir = tempDir("ru-containerd-store-");
  private readonly namespace = `ru-test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;

  constructor(private readonly address: string) {
    mkdirSync(join(this.dir, "bin"));
    mkdirSync(join(this.dir, "images"));
    copyFileSync(join(import.meta.dir, "containerd-docker.sh"), join(this.dir, "bin", "docker"));
    chmodSync(join(this.dir, "bin", "docker"), 0o755);
  }

  /** The environment that puts the stand-in first. */
  env(): Record<string, string> {
    return { PATH: `${join(this.dir, "bin")}:${process.env.PATH}` };
  }

  /** Each command line the stand-in was run with, in order. */
  calls(): string[] {
    const f = join(this.dir, "calls");
    return existsSync(f) ? readFileSync(f, "utf8").trim().split("\n") : [];
  }

  private ctr(args: string[]): string {
    return sh(["ctr", "--address", this.address, "--namespace", this.namespace, ...args]);
  }

  /**
   * Puts the image of docker save archive `archive` in the store as `name`: converted to
   * an OCI layout with gzip'd layers, imported into containerd and exported again. With
   * `others` (archives of the same image for other platforms), `name` is an index of all
   * of them, and a save without --platform holds every platform.
   */
  add(name: string, archive: string, others: Array<{ archive: string; platform: { os: string; architecture: string } }> = []): void {
    const work = tempDir("ru-containerd-image-");
    const layout = join(work, "layout");
    const host = { os: "linux", architecture: process.arch === "arm64" ? "arm64" : "amd64" };
    const images = [{ archive, platform: host }, ...others];
    for (const [i, image] of images.entries()) {
      sh([
        "skopeo",
        "copy",
        "--quiet",
        "--dest-compress",
        "--dest-compress-format",
        "gzip",
        `docker-archive:${image.archive}`,
        `oci:${layout}:p${i}`,
      ]);
    }
    const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as {
      manifests: Array<Descriptor & { annotations?: object }>;
    };
    const manifests = images.map((image, i) => {
      const d = index.manifests.find((m) => (m.annotations as Record<string, string>)["org.opencontainers.image.ref.name"] === `p${i}`);
      if (!d) throw new Error(`skopeo wrote no manifest p${i}`);
      return { mediaType: d.mediaType, digest: d.digest, size: d.size, platform: image.platform };
    });
    let top: Descriptor = manifests[0] as Descriptor;
    if (others.length > 0) {
      const doc = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests });
      const digest = sha256(doc);
      writeFileSync(join(layout, "blobs", "sha256", digest), doc);
      top = { mediaType: "application/vnd.oci.image.index.v1+json", digest: `sha256:${digest}`, size: doc.length };
    }
    const names = { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": name };
    writeFileSync(join(layout, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [{ ...top, annotations: names }] }));
    sh(["tar", "-C", layout, "-cf", join(work, "oci.tar"), "."]);
    this.ctr(["images", "import", "--no-unpack", "--all-platforms", join(work, "oci.tar")]);

    const key = (s: string) => sha256(s);
    const id = top.digest;
    const file = (k: string, platform?: string) =>
      join(this.dir, "images", `${key(k)}${platform ? `@${platform.replaceAll("/", "_")}` : ""}.tar`);
    for (const k of [name, id]) {
      this.ctr(["images", "export", ...(others.length > 0 ? ["--all-platforms"] : []), file(k), name]);
      for (const image of images) {
        const p = `${image.platform.os}/${image.platform.architecture}`;
        this.ctr(["images", "export", "--platform", p, file(k, p), name]);
      }
    }
    // What Docker 29 inspects: the host platform's image, under the ID of the manifest or index.
    const manifest = JSON.parse(readFileSync(join(layout, "blobs", "sha256", (manifests[0] as Descriptor).digest.slice(7)), "utf8"));
    const config = JSON.parse(readFileSync(join(layout, "blobs", "sha256", manifest.config.digest.slice(7)), "utf8"));
    const inspect = [
      {
        Id: id,
        RepoTags: [name],
        Descriptor: top,
        Os: config.os,
        Architecture: config.architecture,
        Config: config.config ?? {},
        RootFS: { Type: "layers", Layers: config.rootfs.diff_ids },
        Size: manifest.layers.reduce((n: number, l: Descriptor) => n + l.size, 0),
      },
    ];
    for (const k of [name, id]) writeFileSync(join(this.dir, "images", `${key(k)}.json`), JSON.stringify(inspect));
  }

  /** Takes the images out of containerd (the content goes with its last image). */
  remove(): void {
    const names = this.ctr(["images", "ls", "--quiet"]).split("\n").filter(Boolean);
    if (names.length > 0) this.ctr(["images", "rm", ...names]);
    Bun.spawnSync(["ctr", "--address", this.address, "namespaces", "rm", this.namespace], { stdout: "ignore", stderr: "ignore" });
  }
}
