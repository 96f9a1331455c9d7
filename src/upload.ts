import { startBuild } from "./api.ts";
import type { Endpoint } from "./config.ts";
import { type ErrorContext, toUploadError, UploadError } from "./errors.ts";
import { type GzipOptions, gzip } from "./gzip.ts";
import { FILE_PART, formFields, multipart } from "./multipart.ts";
import type { FormShape } from "./options.ts";
import { type Clock, clampTimer, type RetryPolicy, retryDelay } from "./retry.ts";
import type { Source } from "./source.ts";
import { base64, collectGarbage, count, type Meter, type PullStream, pullStream, rechunk, sha256 } from "./streams.ts";
import { checkGzippedTar, checkTar, checkTarFile, TornArchive } from "./tar.ts";

const LOCAL: ErrorContext = { kind: "local" };

/** 8 blocks of input: the GC cadence that held peak RSS flat at 1 and 4 GiB. */
const GC_EVERY = 16 * 1024 * 1024;

/** Bun's fetch pays ~0.1 ms per chunk: at 512 KiB and up that is under 1 % of the upload. */
const SEND_CHUNK = 512 * 1024;

export interface UploadRequest {
  endpoint: Endpoint;
  /** target_image: the image name as given on the command line. */
  image: string;
  tags: readonly string[];
  source: Source;
  gzip: GzipOptions;
  form: FormShape;
}

export interface Progress {
  /** Uncompressed tar bytes read from the source. */
  read: Meter;
  /** Compressed bytes handed to the socket. */
  sent: Meter;
}

export interface UploadResult {
  buildId: string;
  bytesRead: number;
  bytesSent: number;
  sha256: string;
}

/**
 * Everything on our side of the socket: source → tar check → gzip (unless the source is
 * gzip already) → base64 for the [OH] form → counted and hashed as sent.
 */
function contextBody(req: UploadRequest, progress: Progress, onDigest: (hex: string) => void): ReadableStream<Uint8Array> {
  progress.read.bytes = 0;
  progress.sent.bytes = 0;
  const { source } = req;
  const torn = (e: TornArchive) => tornError(source, e);
  let gz: ReadableStream<Uint8Array>;
  if (source.gzipped) gz = checkGzippedTar(count(source.open(), progress.read), torn);
  // A file's blocks are read by the Workers: its headers are walked on disk at the end.
  else if (source.file) gz = gzip({ file: source.file }, req.gzip, progress.read);
  else gz = gzip(checkTar(source.open(), torn), req.gzip, progress.read);
  if (source.kind === "file") gz = unchanged(gz, progress.read, source, torn);
  gz = collectGarbage(gz, progress.read, GC_EVERY);
  const encoded = req.form === "openhands" ? base64(gz) : gz;
  return count(sha256(rechunk(encoded, SEND_CHUNK), onDigest), progress.sent);
}

const TORN_HINT: Record<Source["kind"], string> = {
  engine: "the engine's save ended early: check its free disk space and that 'docker save IMAGE' works on its own",
  file: "the file is cut short or is not an image archive: save it again (docker save -o FILE IMAGE)",
  "oci-layout": "check that the OCI layout folder is complete and readable",
  stdin: "did the command feeding stdin fail? Check its exit status, or save to a file and pass --input FILE",
};

function tornError(source: Source, e: TornArchive): UploadError {
  return new UploadError("INPUT", `${source.label} is not a complete tar archive: ${e.message}; nothing was built`, {
    hint: TORN_HINT[source.kind],
  });
}

/**
 * A file that is still being written (or cut short) while we read it would arrive as a
 * torn image: fail before the closing boundary, so the server starts no build from it.
 */
function unchanged(
  input: ReadableStream<Uint8Array>,
  read: Meter,
  source: Source,
  torn: (e: TornArchive) => UploadError,
): ReadableStream<Uint8Array> {
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      flush() {
        if (source.size !== undefined && read.bytes !== source.size) {
          throw new UploadError("INPUT", `${source.label} changed while it was read: ${read.bytes} bytes read, ${source.size} expected`, {
            hint: "wait until whatever writes the archive has finished, then run again",
          });
        }
        if (!source.file) return;
        try {
          checkTarFile(source.file, read.bytes);
        } catch (e) {
          throw e instanceof TornArchive ? torn(e) : e;
        }
      },
    }),
  );
}

export interface DryRunResult {
  bytesRead: number;
  bytesSent: number;
  sha256: string;
}

/** The whole pipeline into a null sink: size, ratio and digest without a server. */
export async function dryRun(req: UploadRequest, progress: Progress): Promise<DryRunResult> {
  let digest = "";
  const body = contextBody(req, progress, (hex) => {
    digest = hex;
  });
  try {
    for await (const _ of body as unknown as AsyncIterable<Uint8Array>) {
      // counted and hashed on the way
    }
  } catch (e) {
    throw toUploadError(e, LOCAL);
  }
  return { bytesRead: progress.read.bytes, bytesSent: progress.sent.bytes, sha256: digest };
}

/** What a single attempt may take: no progress for `stallMs`; no answer `answerMs` after the whole body. */
export interface AttemptLimits {
  stallTimeoutMs: number;
  responseTimeoutMs: number;
}

/**
 * One attempt: source → gzip → multipart → POST /build, all streamed. If anything on our
 * side fails (the source, the compressor), the request is aborted before the closing
 * boundary and that error is what the caller sees, not fetch's generic one. Once the
 * closing boundary is out, the server may be building: a lost answer is then never
 * retried, because a second upload could start a second build.
 */
export async function uploadOnce(
  req: UploadRequest,
  progress: Progress,
  signal: AbortSignal,
  limits: AttemptLimits,
): Promise<UploadResult> {
  if (signal.aborted) throw signal.reason;
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(signal.reason);
  signal.addEventListener("abort", onOuterAbort, { once: true });
  let localError: unknown;
  let digest = "";
  const url = `${req.endpoint.baseUrl}/build`;
  const watchdog = watchStall(progress, req.source.size, limits.stallTimeoutMs, (e) => abort.abort(e));
  let answerTimer: ReturnType<typeof setTimeout> | undefined;
  let bodySent = false;
  const onEnd = () => {
    bodySent = true;
    clearInterval(watchdog);
    const secs = Math.round(limits.responseTimeoutMs / 1000);
    answerTimer = setTimeout(
      () => abort.abort(new UploadError("NO_ANSWER", `no answer within ${secs} s (--response-timeout)`)),
      clampTimer(limits.responseTimeoutMs),
    );
  };
  let stopLocal = () => {};
  try {
    const local = contextBody(req, progress, (hex) => {
      digest = hex;
    });
    const stream = guard(local, (e) => {
      localError = e;
      abort.abort(e);
    });
    stopLocal = () => stream.stop();
    const form = multipart(formFields(req.image, req.tags, req.form), { ...FILE_PART[req.form], body: stream, onEnd });
    const buildId = await startBuild(req.endpoint, form, abort.signal);
    return { buildId, bytesRead: progress.read.bytes, bytesSent: progress.sent.bytes, sha256: digest };
  } catch (e) {
    // The user's interrupt is the cause even when the source noticed first.
    if (signal.aborted) throw signal.reason;
    if (localError !== undefined) throw toUploadError(localError, LOCAL);
    const error = abort.signal.reason instanceof UploadError ? abort.signal.reason : toUploadError(e, LOCAL);
    // An answer (an HTTP status, a refused redirect) says what the server did; silence does not.
    if (bodySent && error.status === undefined && error.code !== "NO_BUILD_ID") throw unanswered(url, error);
    throw error;
  } finally {
    clearInterval(watchdog);
    clearTimeout(answerTimer);
    stopLocal();
    signal.removeEventListener("abort", onOuterAbort);
  }
}

function unanswered(url: string, cause: UploadError): UploadError {
  return new UploadError(
    "NO_ANSWER",
    `the whole image was sent to ${url}, but the server's answer was lost (${cause.message}): a build may have started there`,
    {
      hint:
        "it is not uploaded again, so the server cannot build twice: check the Runtime-API's builds before running again " +
        "(or raise --response-timeout for a server that answers slowly)",
      cause,
    },
  );
}

export interface RetryNotice {
  error: UploadError;
  /** 1-based number of the retry about to happen. */
  retry: number;
  retries: number;
  delayMs: number;
}

export interface RetryOptions {
  policy: RetryPolicy;
  clock: Clock;
  random: () => number;
  limits: AttemptLimits;
  signal: AbortSignal;
  onRetry: (n: RetryNotice) => void;
}

/**
 * Uploads, retrying what is transient with the one retry policy. Each retry reopens the
 * source from the start: a half-sent body is never resumed, it is sent again whole.
 */
export async function upload(req: UploadRequest, progress: Progress, o: RetryOptions): Promise<UploadResult> {
  for (let retry = 1; ; retry++) {
    try {
      return await uploadOnce(req, progress, o.signal, o.limits);
    } catch (e) {
      const error = toUploadError(e, LOCAL);
      if (o.signal.aborted || !error.transient) throw error;
      if (retry > o.policy.retries) {
        throw new UploadError(error.code, `${error.message} (gave up after ${retry} attempts)`, {
          hint: error.hint ?? "try again later, or raise --retries",
          status: error.status,
        });
      }
      if (!req.source.replayable) {
        throw new UploadError(
          error.code,
          `${error.message}; the upload read standard input, which cannot be replayed, so it is not retried`,
          {
            hint: "save the archive to a file and pass --input FILE to get automatic retries",
            status: error.status,
          },
        );
      }
      const delayMs = retryDelay(o.policy, retry, error.retryAfterMs, o.random());
      o.onRetry({ error, retry, retries: o.policy.retries, delayMs });
      await o.clock.sleep(delayMs, o.signal);
    }
  }
}

/**
 * Aborts an attempt whose byte counters have not moved for `timeoutMs`. It arms on the
 * first byte read: Docker may legitimately take minutes to export before it writes any.
 */
function watchStall(progress: Progress, size: number | undefined, timeoutMs: number, abort: (e: UploadError) => void) {
  let last = -1;
  let since = Date.now();
  return setInterval(
    () => {
      const moved = progress.read.bytes + progress.sent.bytes;
      if (progress.read.bytes === 0 || moved !== last) {
        last = moved;
        since = Date.now();
        return;
      }
      if (Date.now() - since < timeoutMs) return;
      const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
      abort(
        new UploadError(
          "STALLED",
          `the upload made no progress for ${Math.round(timeoutMs / 1000)} s ` +
            `(read ${mib(progress.read.bytes)}${size ? ` of ${mib(size)}` : ""}, sent ${mib(progress.sent.bytes)})`,
          { transient: true, hint: "the server or the network stopped accepting data; raise --stall-timeout for a slow link" },
        ),
      );
    },
    Math.min(1000, Math.max(50, timeoutMs / 10)),
  );
}

/**
 * Passes chunks through and reports the first read error before the stream errors.
 * `stop` ends the whole local pipeline whatever fetch did with the body, so no
 * `docker save` child and no compressor outlives its attempt.
 */
function guard(input: ReadableStream<Uint8Array>, onError: (e: unknown) => void): PullStream {
  const reader = input.getReader();
  return pullStream({
    async next() {
      try {
        const r = await reader.read();
        return r.done ? undefined : r.value;
      } catch (e) {
        onError(e);
        throw e;
      }
    },
    release: (reason) => reader.cancel(reason).catch(() => {}),
  });
}
