import { getBuildStatus, type ImageRecord, imageExists, registryPrefix } from "./api.ts";
import { type DryRunResult, dryRun, type Progress, type UploadResult } from "./body.ts";
import { dockerfileContext, wrongContext } from "./build-context.ts";
import type { Endpoint } from "./config.ts";
import { checkPlatformSave, type Engine, type ImageInfo, inspectImage, pullImage } from "./docker.ts";
import { UploadError } from "./errors.ts";
import type { GzipOptions } from "./gzip.ts";
import type { Platform } from "./oci.ts";
import type { ContextKind, FormShape, PullPolicy } from "./options.ts";
import { type Notice, pollBuild } from "./poll.ts";
import { hasRegistry, inPrefix } from "./reference.ts";
import { type Clock, DEFAULT_RETRY } from "./retry.ts";
import { dockerSource, fileSource, type Source, stdinSource } from "./source.ts";
import { type RetryNotice, upload } from "./upload.ts";

export interface RunOptions {
  endpoint: Endpoint;
  image: string;
  tags: readonly string[];
  /** A docker save archive instead of the engine: a path, or "-" for stdin. */
  input: string | undefined;
  pull: PullPolicy;
  engine: Engine;
  gzip: GzipOptions;
  form: FormShape;
  /** Compress and measure into a null sink; no request is made. */
  dryRun: boolean;
  /** What is sent: the image archive, or a Dockerfile context that rebuilds it. */
  context: ContextKind;
  /** With dryRun: where to write the gzip'd body. */
  output: string | undefined;
  /** Ask GET /image_exists first and skip the upload when the target is there. */
  skipExisting: boolean;
  /** Send only this platform of a multi-platform image. */
  platform: Platform | undefined;
  /** "auto": ask the server (GET /registry_prefix); "none": the name as given; else the prefix itself. */
  registryPrefix: string;
  timeoutMs: number;
  intervalMs: number;
  statusTimeoutMs: number;
  retries: number;
  stallTimeoutMs: number;
  /** How long to wait for /build's answer once the whole body is sent. */
  responseTimeoutMs: number;
  clock: Clock;
  signal: AbortSignal;
  onEvent: (e: RunEvent) => void;
}

export type RunEvent =
  | { type: "named"; image: string; prefix: string | undefined; from: "server" | "flag" | "no-endpoint" }
  | { type: "confirmed"; image: string; record: ImageRecord | undefined }
  | { type: "skipped"; image: string }
  | { type: "pulling"; image: string }
  | { type: "flattening"; source: Source }
  | { type: "saving"; source: Source }
  | { type: "uploading"; url: string; progress: Progress; size: number | undefined }
  | { type: "upload-retry"; retry: RetryNotice }
  | { type: "uploaded"; result: UploadResult }
  | { type: "dry-run"; result: DryRunResult }
  | { type: "polling"; buildId: string }
  | { type: "poll-notice"; notice: Notice };

export interface RunResult {
  outcome: "built" | "skipped" | "dry-run";
  /** What was (or, for a dry run, would be) sent. */
  upload?: DryRunResult & { buildId?: string };
  image: string;
  /** What GET /image_exists said of the built image, where the server has it. */
  record?: ImageRecord;
  uploadSeconds?: number;
  buildSeconds?: number;
}

/** The main job: find the image, stream it up, wait for the build. Prints nothing. */
export async function runUpload(options: RunOptions): Promise<RunResult> {
  const o = { ...options, image: await targetName(options) };
  if (o.skipExisting && !o.dryRun && (await imageExists(o.endpoint, o.image, o.statusTimeoutMs, o.signal)).exists) {
    o.onEvent({ type: "skipped", image: o.image });
    return { outcome: "skipped", image: o.image };
  }
  const source = await prepareSource(o);
  // A signal that came while the engine answered must not be followed by an upload.
  if (o.signal.aborted) throw o.signal.reason;
  o.onEvent({ type: "saving", source });
  const progress: Progress = { read: { bytes: 0 }, sent: { bytes: 0 } };
  const req = { endpoint: o.endpoint, image: o.image, tags: o.tags, source, gzip: o.gzip, form: o.form, output: o.output };
  const started = o.clock.now();
  if (o.dryRun) {
    const result = await dryRun(req, progress, o.signal);
    o.onEvent({ type: "dry-run", result });
    return { outcome: "dry-run", upload: result, image: o.image, uploadSeconds: (o.clock.now() - started) / 1000 };
  }
  o.onEvent({ type: "uploading", url: `${o.endpoint.baseUrl}/build`, progress, size: source.size });
  const hinted = (e: unknown) => {
    throw wrongContext(e, source.flattened === true);
  };
  const result = await upload(req, progress, {
    policy: { ...DEFAULT_RETRY, retries: o.retries },
    clock: o.clock,
    random: Math.random,
    limits: { stallTimeoutMs: o.stallTimeoutMs, responseTimeoutMs: o.responseTimeoutMs },
    signal: o.signal,
    onRetry: (retry) => o.onEvent({ type: "upload-retry", retry }),
  }).catch(hinted);
  o.onEvent({ type: "uploaded", result });
  const uploaded = o.clock.now();
  const image = (await waitForBuild(o, result.buildId).catch(hinted)) || o.image;
  const record = await confirm(o, image, result.buildId);
  return {
    outcome: "built",
    upload: result,
    image,
    record,
    uploadSeconds: (uploaded - started) / 1000,
    buildSeconds: (o.clock.now() - uploaded) / 1000,
  };
}

export type WaitOptions = Pick<RunOptions, "endpoint" | "timeoutMs" | "intervalMs" | "statusTimeoutMs" | "clock" | "signal" | "onEvent">;

/** A status check may outlast --timeout by this much at most, whatever the server does. */
const STATUS_GRACE_MS = 2000;

export async function waitForBuild(o: WaitOptions, buildId: string): Promise<string> {
  o.onEvent({ type: "polling", buildId });
  const deadline = o.clock.now() + o.timeoutMs;
  const callTimeout = () => Math.min(o.statusTimeoutMs, Math.max(0, deadline - o.clock.now()) + STATUS_GRACE_MS);
  const end = await pollBuild({
    buildId,
    intervalMs: o.intervalMs,
    timeoutMs: o.timeoutMs,
    fetchStatus: (signal) => getBuildStatus(o.endpoint, buildId, callTimeout(), signal),
    onNotice: (notice) => o.onEvent({ type: "poll-notice", notice }),
    clock: o.clock,
    signal: o.signal,
  });
  switch (end.phase) {
    case "succeeded":
      return end.image;
    case "failed":
      throw new UploadError("BUILD_FAILED", end.message, { hint: `build ID: ${buildId}` });
    case "timed_out":
      throw new UploadError(
        "TIMEOUT",
        `gave up waiting for build ${buildId} after ${formatMinutes(o.timeoutMs)}` +
          (end.lastStatus ? ` (last status: ${end.lastStatus})` : ""),
        { hint: `the build may still finish on the server: wait again with 'runtime-upload wait ${buildId}'` },
      );
    case "error":
      throw end.error;
  }
}

/** The name to build: inside the server's registry prefix where it wants one (the clients that work do so). */
async function targetName(o: RunOptions): Promise<string> {
  if (o.registryPrefix === "none" || hasRegistry(o.image)) return o.image;
  if (o.registryPrefix !== "auto") {
    const image = inPrefix(o.image, o.registryPrefix);
    o.onEvent({ type: "named", image, prefix: o.registryPrefix, from: "flag" });
    return image;
  }
  // A dry run asks no server.
  if (o.dryRun) return o.image;
  const prefix = await registryPrefix(o.endpoint, o.statusTimeoutMs, o.signal);
  const image = inPrefix(o.image, prefix);
  o.onEvent({ type: "named", image, prefix, from: prefix === undefined ? "no-endpoint" : "server" });
  return image;
}

/** After SUCCESS, the image must really be there, where the server can say so. */
async function confirm(o: RunOptions, image: string, buildId: string): Promise<ImageRecord | undefined> {
  let record: ImageRecord;
  try {
    record = await imageExists(o.endpoint, image, o.statusTimeoutMs, o.signal);
  } catch (e) {
    if (e instanceof UploadError && e.code === "NOT_FOUND") {
      o.onEvent({ type: "confirmed", image, record: undefined });
      return undefined;
    }
    throw e;
  }
  if (!record.exists) {
    throw new UploadError("NOT_CONFIRMED", `build ${buildId} reported SUCCESS, but the Runtime-API says ${image} does not exist`, {
      hint: "the server may have failed to push it: check the build on the Runtime-API before using the image",
    });
  }
  o.onEvent({ type: "confirmed", image, record });
  return record;
}

function formatMinutes(ms: number): string {
  const min = ms / 60_000;
  return `${Number.isInteger(min) ? min : min.toFixed(1)} minute${min === 1 ? "" : "s"}`;
}

async function prepareSource(o: RunOptions): Promise<Source> {
  const source = await imageSource(o);
  if (o.context === "image") return source;
  o.onEvent({ type: "flattening", source });
  return dockerfileContext(source, o.image, o.signal);
}

async function imageSource(o: RunOptions): Promise<Source> {
  if (o.input === "-") return stdinSource();
  if (o.input) return fileSource(o.input, o.platform);
  if (o.platform) await checkPlatformSave(o.engine, o.signal);
  const pull = async () => {
    o.onEvent({ type: "pulling", image: o.image });
    await pullImage(o.engine, o.image, o.signal);
  };
  if (o.pull === "always") await pull();
  try {
    return engineSource(o, await inspectImage(o.engine, o.image, o.signal));
  } catch (e) {
    if (!(e instanceof UploadError) || e.code !== "IMAGE_NOT_FOUND" || o.pull !== "missing") throw e;
  }
  await pull();
  return engineSource(o, await inspectImage(o.engine, o.image, o.signal));
}

/** A Dockerfile context reads the image twice: both reads must be of the image the name meant at the start. */
function engineSource(o: RunOptions, info: ImageInfo): Source {
  return dockerSource(o.engine, o.image, info.size, o.platform, o.context === "dockerfile" ? info.id : undefined);
}
