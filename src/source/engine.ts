import { UploadError } from "../errors.ts";
import { jsonObject } from "../lib/document.ts";
import { pullStream } from "../lib/streams.ts";
import { errorInExport, socketSave } from "./engine-socket.ts";
import { INDEX_TYPES, namedPlatform, type Platform, platformText } from "./oci-index.ts";
import { AnswerBroken } from "./socket-get.ts";
import type { Source } from "./source.ts";

export const ENGINES = ["auto", "docker", "podman"] as const;

/**
 * The Docker engine, reached through its CLI so that DOCKER_HOST, contexts and podman's
 * docker-compatible CLI all work the way the user's own shell does; only a save is read
 * from the engine's socket, where the CLI says that is where it would go.
 */
export interface Engine {
  /** The CLI to run: "docker" or "podman". */
  bin: string;
}

/** --engine auto: docker when its CLI is installed, else podman when that is, else docker (to say it is missing). */
export function resolveEngine(choice: string, which: (bin: string) => string | null): Engine {
  if (choice !== "auto") return { bin: choice };
  if (which("docker")) return { bin: "docker" };
  return { bin: which("podman") ? "podman" : "docker" };
}

export interface ImageInfo {
  /** Uncompressed size the engine reports; the archive is about this large. */
  size: number;
  /** The image ID, where the engine gives one: what a name pointed to when it was asked. */
  id?: string;
  /**
   * The image ID, where it is the digest of the image's config (dockerd's classic store,
   * podman). Docker's containerd image store says which image it means by a descriptor of
   * its manifest or index, and its ID is that one's digest: then this is unknown until a
   * save's config is read.
   */
  configId?: string;
  /** The ID names an index of platforms (the containerd store): a save must name the platform of the image inspected. */
  index?: boolean;
  /** The layers' diff IDs, bottom first, where the engine gives them: the image named by content with no save. */
  diffIds?: string[];
  /** os/arch[/variant], where the engine says. */
  platform?: string;
  /** Whether its config holds ONBUILD triggers (podman's inspect never says so). */
  onBuild?: boolean;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

type Child = ReturnType<typeof Bun.spawn>;

/** Every engine child still running, so that an exit on any path can take them along. */
const children = new Set<Child>();

export function killChildren(): void {
  for (const c of children) c.kill("SIGKILL");
}

/** The engine never needs the API key: it is not passed down. */
function childEnv(): Record<string, string | undefined> {
  const { RUNTIME_API_KEY: _, ...env } = process.env;
  return env;
}

function spawn(engine: Engine, args: string[]): Child {
  let proc: Child;
  try {
    proc = Bun.spawn([engine.bin, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: childEnv() });
  } catch (cause) {
    throw notInstalled(engine, cause);
  }
  children.add(proc);
  proc.exited.finally(() => children.delete(proc));
  return proc;
}

/** Runs an engine command to its end, or kills it when `signal` fires (Ctrl-C during a pull). */
async function run(engine: Engine, args: string[], signal: AbortSignal): Promise<Run> {
  if (signal.aborted) throw signal.reason;
  const proc = spawn(engine, args);
  const kill = () => proc.kill("SIGKILL");
  signal.addEventListener("abort", kill, { once: true });
  try {
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout as ReadableStream).text(),
      new Response(proc.stderr as ReadableStream).text(),
      proc.exited,
    ]);
    if (signal.aborted) throw signal.reason;
    return { code, stdout, stderr: stderr.trim() };
  } finally {
    signal.removeEventListener("abort", kill);
  }
}

function notInstalled(engine: Engine, cause: unknown): UploadError {
  return new UploadError("DOCKER_UNAVAILABLE", `${engine.bin} was not found on PATH`, {
    hint: `install ${engine.bin}, or upload an archive with --input FILE (docker save -o FILE IMAGE)`,
    cause,
  });
}

const DAEMON_DOWN =
  /cannot connect to the docker daemon|is the docker daemon running|error during connect|connection refused|no such file or directory.*\.sock|cannot connect to podman/i;
const NO_SUCH_IMAGE = /no such image|no such object|image not known|not found/i;

/** Turns what the engine said into an error that names the cause and the fix. */
function classifyEngineError(engine: Engine, image: string, stderr: string): UploadError {
  const said = lastLine(stderr);
  if (DAEMON_DOWN.test(stderr)) {
    return new UploadError("DOCKER_UNAVAILABLE", `the ${engine.bin} engine is not reachable: ${said}`, {
      hint: `start the engine (or set DOCKER_HOST), or upload an archive with --input FILE`,
    });
  }
  if (NO_SUCH_IMAGE.test(stderr)) {
    return new UploadError("IMAGE_NOT_FOUND", `image not found: ${image}`, {
      hint: `check the name with '${engine.bin} images', or pull it first (--pull missing)`,
    });
  }
  return new UploadError("DOCKER_SAVE", `${engine.bin} failed for ${image}: ${said || "no message"}`);
}

function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return (lines[lines.length - 1] ?? "").trim();
}

/**
 * What the engine says of the image, read from its whole inspect document: a --format
 * template fails on a field one engine or version lacks (Variant before Docker 23, OnBuild
 * in podman's), where a missing key in the document is only unknown.
 */
export async function inspectImage(engine: Engine, image: string, signal: AbortSignal): Promise<ImageInfo> {
  const r = await run(engine, ["image", "inspect", "--", image], signal);
  if (r.code !== 0) throw classifyEngineError(engine, image, r.stderr);
  return imageInfo(jsonObject(r.stdout));
}

/** What an inspect document (docker's or podman's, an array of one or the object) says of the image. */
export function imageInfo(doc: unknown): ImageInfo {
  const img = (Array.isArray(doc) ? doc[0] : doc) as Record<string, unknown> | undefined;
  const {
    Size: size,
    Id: id,
    RootFS: rootfs,
    Os: os,
    Architecture: arch,
    Variant: variant,
    Config: config,
    Descriptor: target,
  } = img ?? {};
  const diffIds = (rootfs as { Layers?: unknown } | undefined)?.Layers;
  const triggers = (config as { OnBuild?: unknown } | undefined)?.OnBuild;
  const digest = /^sha256:[0-9a-f]{64}$/;
  const imageId = typeof id === "string" && /^(sha256:)?[0-9a-f]{64}$/.test(id) ? id : undefined;
  // Only an engine with a multi-platform image store (API 1.48+) describes the image's target.
  const described = typeof target === "object" && target !== null;
  const targetType = described ? (target as { mediaType?: unknown }).mediaType : undefined;
  return {
    size: typeof size === "number" && size > 0 ? size : 0,
    id: imageId,
    configId: described ? undefined : imageId,
    index: typeof targetType === "string" && INDEX_TYPES.has(targetType),
    diffIds: Array.isArray(diffIds) && diffIds.every((d) => typeof d === "string" && digest.test(d)) ? diffIds : undefined,
    platform: namedPlatform(os, arch, variant),
    onBuild: Array.isArray(triggers) && triggers.length > 0,
  };
}

/** The CLI's answer of where its engine is, asked once per run. */
const hosts = new Map<string, Promise<string | undefined>>();

/**
 * The unix:// address the docker CLI would use (DOCKER_HOST, else the current context), or
 * undefined where it is anything else (tcp with TLS, ssh) or the CLI cannot say (podman,
 * an older CLI): a save then goes through the CLI.
 */
function engineHost(engine: Engine): Promise<string | undefined> {
  let host = hosts.get(engine.bin);
  if (!host) {
    const ask = async () => {
      if (engine.bin !== "docker") return undefined;
      const r = await run(engine, ["context", "inspect", "--format", "{{.Endpoints.docker.Host}}"], AbortSignal.timeout(10_000));
      const said = r.code === 0 ? r.stdout.trim() : "";
      return said.startsWith("unix://") ? said : undefined;
    };
    host = ask().catch(() => undefined);
    hosts.set(engine.bin, host);
  }
  return host;
}

/** `docker save --platform` came with Engine API 1.48 (Docker 28). */
const PLATFORM_API = [1, 48];

/** Fails, naming both versions, where the engine cannot save one platform of an image. */
export async function checkPlatformSave(engine: Engine, signal: AbortSignal): Promise<void> {
  const r = await run(engine, ["version", "--format", "{{.Server.APIVersion}} {{.Server.Version}}"], signal);
  if (r.code !== 0) throw classifyEngineError(engine, "", r.stderr);
  const [api = "", version = "unknown"] = r.stdout.trim().split(/\s+/);
  const [major = 0, minor = 0] = api.split(".").map(Number);
  if (
    engine.bin === "docker" &&
    (major > (PLATFORM_API[0] as number) || (major === PLATFORM_API[0] && minor >= (PLATFORM_API[1] as number)))
  )
    return;
  throw new UploadError(
    "CONFIG",
    `--platform needs Docker Engine API 1.48 or newer (Docker 28 and later); this engine is ${engine.bin} ${version} (API ${api || "unknown"})`,
    {
      hint: "upgrade the engine, or save the image as an OCI layout (skopeo copy docker-daemon:IMAGE oci:DIR) and pass --input DIR --platform",
    },
  );
}

export async function pullImage(engine: Engine, image: string, signal: AbortSignal): Promise<void> {
  const r = await run(engine, ["pull", "--quiet", "--", image], signal);
  if (r.code === 0) return;
  const e = classifyEngineError(engine, image, r.stderr);
  if (e.code === "DOCKER_UNAVAILABLE") throw e;
  throw new UploadError("DOCKER_PULL", `could not pull ${image}: ${lastLine(r.stderr)}`, {
    hint: "check the image name and your registry login, or use --pull never for a local image",
  });
}

/**
 * `docker save IMAGE` as a stream: from the engine's socket where the CLI would use one,
 * else from the CLI. A save that dies half-way errors the stream instead of ending it
 * cleanly (the CLI's exit status is checked when its output ends; a socket cut before the
 * last chunk fails the read): a truncated archive must never look like a complete one
 * downstream.
 */
function saveImage(engine: Engine, image: string, platform?: string): ReadableStream<Uint8Array> {
  let proc: Child | undefined;
  let reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> } | undefined;
  let stderr: Promise<string> = Promise.resolve("");
  const abort = new AbortController();
  /** A read taken ahead: a chunk that ends as an engine's error line waits for it, to know whether the export ends there. */
  let ahead: { done: boolean; value?: Uint8Array } | undefined;
  /** The last bytes passed on, copied (the chunks themselves are spent downstream): an error line can span two reads. */
  const tail = new Uint8Array(ERROR_TAIL);
  let tailLength = 0;
  const remember = (chunk: Uint8Array) => {
    const taken = Math.min(chunk.byteLength, ERROR_TAIL);
    const keep = Math.min(tailLength, ERROR_TAIL - taken);
    tail.copyWithin(0, tailLength - keep, tailLength);
    tail.set(chunk.subarray(chunk.byteLength - taken), keep);
    tailLength = keep + taken;
  };
  const readSave = async (from: NonNullable<typeof reader>) => {
    try {
      return await from.read();
    } catch (cause) {
      if (proc) throw cause;
      const why = cause instanceof AnswerBroken ? cause.message : "the engine closed its connection mid-export";
      throw new UploadError("DOCKER_SAVE", `the engine's save of ${image} ended early: ${why}`, {
        hint: saveHint(engine, image),
        cause,
      });
    }
  };
  return pullStream({
    async next() {
      if (!reader) {
        // --platform needs the engine's API 1.48 parameter: the CLI, which checks it, says it.
        const host = platform ? undefined : await engineHost(engine);
        const answer = host ? await socketSave(host, image, abort.signal) : undefined;
        if (answer && "status" in answer) throw refusedSave(engine, image, answer.status, answer.message);
        if (answer) reader = answer.body;
        else {
          proc = spawn(engine, ["save", ...(platform ? ["--platform", platform] : []), "--", image]);
          reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
          stderr = new Response(proc.stderr as ReadableStream).text();
        }
      }
      const read = ahead ?? (await readSave(reader));
      ahead = undefined;
      if (!read.done && read.value) {
        const chunk = read.value;
        remember(chunk);
        if (endsAsLine(chunk)) {
          ahead = await readSave(reader);
          const said = ahead.done ? errorInExport(tail.subarray(0, tailLength)) : undefined;
          if (said)
            throw new UploadError(
              "DOCKER_SAVE",
              `${engine.bin} save ${image} failed: the engine stopped its export and wrote why: ${said}`,
              {
                hint: saveHint(engine, image),
              },
            );
        }
        return chunk;
      }
      if (!proc) return undefined;
      const code = await proc.exited;
      if (code === 0) return undefined;
      const said = (await stderr).trim();
      const e = classifyEngineError(engine, image, said);
      throw e.code === "DOCKER_SAVE" || said === ""
        ? new UploadError("DOCKER_SAVE", `${engine.bin} save ${image} failed (${exitText(proc)}): ${said || "no message"}`, {
            hint: saveHint(engine, image),
          })
        : e;
    },
    // A consumer that cancelled, or a run that ended, takes the child or the request with it.
    release: () => {
      abort.abort();
      proc?.kill("SIGKILL");
    },
  });
}

/** What is kept of the export's end to read an engine's error line from. */
const ERROR_TAIL = 2048;

/** Ends as `}\r\n`: as an engine's error line does (and, rarely, some tar data). */
function endsAsLine(chunk: Uint8Array): boolean {
  const n = chunk.byteLength;
  return n >= 3 && chunk[n - 3] === 0x7d && chunk[n - 2] === 0x0d && chunk[n - 1] === 0x0a;
}

function saveHint(engine: Engine, image: string): string {
  return `check that the engine has free disk space and that '${engine.bin} save ${image}' works on its own`;
}

/** The engine's own answer to a save: a 404 is an image gone since it was inspected. */
function refusedSave(engine: Engine, image: string, status: number, message: string): UploadError {
  if (status === 404) return classifyEngineError(engine, image, `no such image: ${message}`);
  return new UploadError(
    "DOCKER_SAVE",
    `${engine.bin} save ${image} failed (the engine answered HTTP ${status}): ${message || "no message"}`,
    {
      hint: saveHint(engine, image),
    },
  );
}

function exitText(proc: ReturnType<typeof Bun.spawn> | undefined): string {
  if (!proc) return "not started";
  return proc.signalCode ? `killed by ${proc.signalCode}` : `exit ${proc.exitCode}`;
}

/**
 * `pinned`: save this image ID rather than the name, so that reads that must agree (the
 * two passes of --context dockerfile) see the same image even if the name moves meanwhile.
 */
export function dockerSource(engine: Engine, image: string, size: number | undefined, platform?: Platform, pinned?: string): Source {
  return {
    kind: "engine",
    label: `${engine.bin} save ${platform ? `--platform ${platformText(platform)} ` : ""}${image}`,
    size,
    replayable: true,
    gzipped: false,
    open: () => saveImage(engine, pinned ?? image, platform && platformText(platform)),
  };
}
