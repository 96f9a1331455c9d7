/**
 * One upload attempt (POST /build with the streamed body) and the retry loop around it,
 * with the stall watch while sending and the answer deadline after.
 */
import { startBuild } from "../api/client.ts";
import { FILE_PART, formFields, multipart } from "../api/multipart.ts";
import { toUploadError, UploadError } from "../errors.ts";
import { type Clock, clampTimer, type RetryPolicy, retryDelay } from "../lib/retry.ts";
import { type PullStream, pullStream } from "../lib/streams.ts";
import { LOCAL_SITE, type Progress, type UploadRequest, type UploadResult, uploadBody } from "./body.ts";
import { StallWatch, watchStall } from "./stall-watch.ts";

interface AttemptLimits {
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
async function attempt(
  req: UploadRequest,
  progress: Progress,
  signal: AbortSignal,
  limits: AttemptLimits,
  clock: Clock,
): Promise<UploadResult> {
  if (signal.aborted) throw signal.reason;
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(signal.reason);
  signal.addEventListener("abort", onOuterAbort, { once: true });
  let localError: unknown;
  let digest = "";
  const url = `${req.endpoint.baseUrl}/build`;
  const watch = new StallWatch(progress, req.source.size, limits.stallTimeoutMs, clock.now());
  const watchdog = watchStall(watch, limits.stallTimeoutMs, clock, (e) => abort.abort(e));
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
    const local = uploadBody(req, progress, (hex) => {
      digest = hex;
    });
    const stream = guard(local, (e) => {
      localError = e;
      abort.abort(e);
    });
    stopLocal = () => stream.stop();
    const form = multipart(formFields(req.targetImage, req.tags, req.form, req.alsoAs), { ...FILE_PART[req.form], body: stream, onEnd });
    const buildId = await startBuild(req.endpoint, form, abort.signal);
    return { buildId, bytesRead: progress.read.bytes, bytesSent: progress.sent.bytes, sha256: digest, levels: progress.read.levels };
  } catch (e) {
    // The user's interrupt is the cause even when the source noticed first.
    if (signal.aborted) throw signal.reason;
    if (localError !== undefined) throw toUploadError(localError, LOCAL_SITE);
    const error = abort.signal.reason instanceof UploadError ? abort.signal.reason : toUploadError(e, LOCAL_SITE);
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
export async function sendWithRetries(req: UploadRequest, progress: Progress, o: RetryOptions): Promise<UploadResult> {
  for (let retry = 1; ; retry++) {
    try {
      return await attempt(req, progress, o.signal, o.limits, o.clock);
    } catch (e) {
      const error = toUploadError(e, LOCAL_SITE);
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
