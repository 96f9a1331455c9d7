import { type Existence, getBuildStatus, type ImageRecord, imageExists, registryPrefix } from "../api/client.ts";
import type { Endpoint } from "../api/endpoint.ts";
import type { FormShape } from "../api/multipart.ts";
import { type Notice, pollBuild } from "../api/poll.ts";
import { dockerfileContext, wrongContext } from "../context/build-context.ts";
import { UploadError } from "../errors.ts";
import type { GzipOptions } from "../gzip/gzip.ts";
import { hasRegistry, inPrefix } from "../lib/reference.ts";
import { type Clock, DEFAULT_RETRY } from "../lib/retry.ts";
import { checkPlatformSave, dockerSource, type Engine, type ImageInfo, inspectImage, pullImage } from "../source/engine.ts";
import { fileSource } from "../source/file-source.ts";
import type { Platform } from "../source/oci-index.ts";
import type { Source } from "../source/source.ts";
import { stdinSource } from "../source/stdin-source.ts";
import { type DryRunResult, dryRun, type Progress, type UploadResult } from "../upload/body.ts";
import { type RetryNotice, upload } from "../upload/send.ts";

export const PULL_POLICIES = ["missing", "always", "never"] as const;
type PullPolicy = (typeof PULL_POLICIES)[number];

/** image: the docker save archive as it is; dockerfile: a build context that rebuilds it (FROM scratch). */
export const CONTEXTS = ["image", "dockerfile"] as const;
type ContextKind = (typeof CONTEXTS)[number];

export interface RunOptions {
  endpoint: Endpoint;
  /** What the engine or the archive holds: the name the user typed, never prefixed. */
  localImage: string;
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
  | { type: "named"; targetImage: string; prefix: string | undefined; from: "server" | "flag" | "no-endpoint" }
  | { type: "confirmed"; targetImage: string; record: Existence }
  | { type: "skipped"; targetImage: string }
  | { type: "pulling"; localImage: string }
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
  /** The image the server built (its own word on SUCCESS), or would build. */
  targetImage: string;
  /** What GET /image_exists said of the built image, where the server has it. */
  record?: ImageRecord;
  uploadSeconds?: number;
  buildSeconds?: number;
}

/** The main job: find the image, stream it up, wait for the build. Prints nothing. */
export async function runUpload(o: RunOptions): Promise<RunResult> {
  // What the server builds; the engine and the archive only ever see o.localImage.
  const targetImage = await targetName(o);
  if (o.skipExisting && !o.dryRun && (await existence(o, targetImage))) {
    o.onEvent({ type: "skipped", targetImage });
    return { outcome: "skipped", targetImage };
  }
  const source = await prepareSource(o);
  // A signal that came while the engine answered must not be followed by an upload.
  if (o.signal.aborted) throw o.signal.reason;
  o.onEvent({ type: "saving", source });
  const progress: Progress = { read: { bytes: 0 }, sent: { bytes: 0 } };
  const req = { endpoint: o.endpoint, targetImage, tags: o.tags, source, gzip: o.gzip, form: o.form, output: o.output };
  const started = o.clock.now();
  if (o.dryRun) {
    const result = await dryRun(req, progress, o.signal);
    o.onEvent({ type: "dry-run", result });
    return { outcome: "dry-run", upload: result, targetImage, uploadSeconds: (o.clock.now() - started) / 1000 };
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
  const built = (await waitForBuild(o, result.buildId).catch(hinted)) || targetImage;
  const record = await confirm(o, built, result.buildId);
  return {
    outcome: "built",
    upload: result,
    targetImage: built,
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
  if (o.registryPrefix === "none" || hasRegistry(o.localImage)) return o.localImage;
  if (o.registryPrefix !== "auto") {
    const targetImage = inPrefix(o.localImage, o.registryPrefix);
    o.onEvent({ type: "named", targetImage, prefix: o.registryPrefix, from: "flag" });
    return targetImage;
  }
  // A dry run asks no server.
  if (o.dryRun) return o.localImage;
  const prefix = await registryPrefix(o.endpoint, o.statusTimeoutMs, o.signal);
  const targetImage = inPrefix(o.localImage, prefix);
  o.onEvent({ type: "named", targetImage, prefix, from: prefix === undefined ? "no-endpoint" : "server" });
  return targetImage;
}

/** --skip-existing needs a yes or a no: a server that cannot say is told to the user, not guessed at. */
async function existence(o: RunOptions, image: string): Promise<boolean> {
  const answer = await imageExists(o.endpoint, image, o.statusTimeoutMs, o.signal);
  if (answer.exists === undefined) {
    throw new UploadError("NOT_FOUND", `--skip-existing cannot tell whether ${image} exists: ${answer.why}`, {
      hint: "drop --skip-existing for this server",
    });
  }
  return answer.exists;
}

/** After SUCCESS, the image must really be there, where the server can say so. */
async function confirm(o: RunOptions, image: string, buildId: string): Promise<ImageRecord | undefined> {
  const record = await imageExists(o.endpoint, image, o.statusTimeoutMs, o.signal);
  if (record.exists === false) {
    throw new UploadError("NOT_CONFIRMED", `build ${buildId} reported SUCCESS, but the Runtime-API says ${image} does not exist`, {
      hint: "the server may have failed to push it: check the build on the Runtime-API before using the image",
    });
  }
  o.onEvent({ type: "confirmed", targetImage: image, record });
  return record.exists ? record : undefined;
}

function formatMinutes(ms: number): string {
  const min = ms / 60_000;
  return `${Number.isInteger(min) ? min : min.toFixed(1)} minute${min === 1 ? "" : "s"}`;
}

async function prepareSource(o: RunOptions): Promise<Source> {
  const source = await imageSource(o);
  if (o.context === "image") return source;
  o.onEvent({ type: "flattening", source });
  return dockerfileContext(source, o.localImage, o.signal);
}

async function imageSource(o: RunOptions): Promise<Source> {
  if (o.input === "-") return stdinSource();
  if (o.input) return fileSource(o.input, o.platform);
  if (o.platform) await checkPlatformSave(o.engine, o.signal);
  const pull = async () => {
    o.onEvent({ type: "pulling", localImage: o.localImage });
    await pullImage(o.engine, o.localImage, o.signal);
  };
  if (o.pull === "always") await pull();
  try {
    return engineSource(o, await inspectImage(o.engine, o.localImage, o.signal));
  } catch (e) {
    if (!(e instanceof UploadError) || e.code !== "IMAGE_NOT_FOUND" || o.pull !== "missing") throw e;
  }
  await pull();
  return engineSource(o, await inspectImage(o.engine, o.localImage, o.signal));
}

/** A Dockerfile context reads the image twice: both reads must be of the image the name meant at the start. */
function engineSource(o: RunOptions, info: ImageInfo): Source {
  return dockerSource(o.engine, o.localImage, info.size, o.platform, o.context === "dockerfile" ? info.id : undefined);
}
