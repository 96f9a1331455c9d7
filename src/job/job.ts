/** What an upload job is given, what it tells as it goes, and what it ends with. */
import type { Existence, ImageRecord } from "../api/client.ts";
import type { Endpoint } from "../api/endpoint.ts";
import type { FormShape } from "../api/multipart.ts";
import type { Notice } from "../api/poll.ts";
import type { GzipOptions } from "../gzip/gzip.ts";
import type { Clock } from "../lib/retry.ts";
import type { Engine } from "../source/engine.ts";
import type { Platform } from "../source/oci-index.ts";
import type { Source } from "../source/source.ts";
import type { Progress, UploadResult } from "../upload/body.ts";
import type { DryRunResult } from "../upload/dry-run.ts";
import type { RetryNotice } from "../upload/send.ts";

export const PULL_POLICIES = ["missing", "always", "never"] as const;
type PullPolicy = (typeof PULL_POLICIES)[number];

/** image: the docker save archive as it is; dockerfile: a build context that rebuilds it (FROM scratch). */
export const CONTEXTS = ["image", "dockerfile"] as const;

/** auto: a builder server's base images are reused where it has them (--context dockerfile); never: the whole image. */
export const REUSE_MODES = ["auto", "never"] as const;
type ReuseMode = (typeof REUSE_MODES)[number];
type ContextKind = (typeof CONTEXTS)[number];

export interface JobOptions {
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
  /** With --context dockerfile: build on the layers the server has already. */
  reuse: ReuseMode;
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
  onEvent: (e: JobEvent) => void;
}

/** Whether the job may ask the server anything: a dry run without credentials asks nothing. */
export function asksServer(o: Pick<JobOptions, "dryRun" | "endpoint">): boolean {
  return !o.dryRun || o.endpoint.apiKey !== "";
}

export type JobEvent =
  | { type: "named"; targetImage: string; prefix: string | undefined; from: "server" | "flag" | "no-endpoint" }
  | { type: "confirmed"; targetImage: string; record: Existence }
  | { type: "skipped"; targetImage: string }
  | { type: "pulling"; localImage: string }
  | { type: "flattening"; source: Source }
  | { type: "saving"; source: Source }
  /** `from`: where the bytes come from (the engine writes its whole export before its first byte). */
  | { type: "uploading"; url: string; progress: Progress; size: number | undefined; from: Source["kind"] }
  /** Asking the server which bases it has, at most `questions` questions. */
  | { type: "asking"; questions: number }
  /** The reuse plan, layer by layer, bottom first. */
  | { type: "layers"; layers: LayerPlan[] }
  | { type: "upload-retry"; retry: RetryNotice }
  /** `build`: what the server now builds, the image or a base of its layers (a reuse upload builds those first). */
  | { type: "uploaded"; result: UploadResult; build: "image" | "base" }
  | { type: "dry-run"; result: DryRunResult }
  | { type: "polling"; buildId: string }
  | { type: "poll-notice"; notice: Notice }
  /** `seeded`: the base is the one this run builds (or, in a dry run, would build), not one the server had. */
  | { type: "reuse"; reuse: Reuse; seeded: boolean; dryRun: boolean }
  /** What the layers turned out to weigh, once the pass that sent them has ended. */
  | { type: "reuse-measured"; reuse: Reuse }
  | { type: "no-reuse"; why: string }
  /** A base of layers first..end-1 built (on `on`, else on scratch), named by content, for this upload and the next. */
  | { type: "seeding"; base: string; first: number; end: number; on: string | undefined; bytes: number; dryRun: boolean }
  | { type: "reuse-failed"; why: string };

/** One layer in the reuse plan: where it is, or how it goes. */
export interface LayerPlan {
  position: number;
  diffId: string;
  /** Its tar's bytes, where known before it is read. */
  bytes: number | undefined;
  /** on-server: in the base found; new-base: in a base this upload builds; sending: as it is; flattened: in one tar with its run, after what it deletes. */
  state: "on-server" | "new-base" | "sending" | "flattened";
  /** The base it is in (on-server, new-base). */
  base?: string;
}

/** What layer reuse did for an upload. */
export interface Reuse {
  total: number;
  reused: number;
  /** The layers' uncompressed bytes, where known before they are read (the engine tells them only as it saves). */
  bytesReused: number | undefined;
  bytesSent: number | undefined;
  /** The image built on: a base of the bottom layers, or the whole image. */
  base: string;
}

export interface JobResult {
  outcome: "built" | "skipped" | "dry-run";
  /** What was (or, for a dry run, would be) sent. */
  upload?: DryRunResult & { buildId?: string };
  /** What was reused, where layers were. */
  reuse?: Reuse;
  /** The image the server built (its own word on SUCCESS), or would build. */
  targetImage: string;
  /** What GET /image_exists said of the built image, where the server has it. */
  record?: ImageRecord;
  uploadSeconds?: number;
  buildSeconds?: number;
}
