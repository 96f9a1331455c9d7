/**
 * Every failure the tool can report is an UploadError with a stable code, a hint that
 * tells the user what to do next, and whether trying again can help. Anything else that
 * is thrown becomes one in toUploadError, and exitCode is the one place codes become
 * exit codes.
 */
export const ERROR_CODES = [
  "USAGE",
  "CONFIG",
  "DOCKER_UNAVAILABLE",
  "IMAGE_NOT_FOUND",
  "DOCKER_PULL",
  "DOCKER_SAVE",
  "INPUT",
  "AUTH",
  "NOT_FOUND",
  "TOO_LARGE",
  "RATE_LIMITED",
  "HTTP",
  "NETWORK",
  "TLS",
  "STALLED",
  "BAD_RESPONSE",
  "REDIRECT",
  "NO_ANSWER",
  "NO_BUILD_ID",
  "BUILD_FAILED",
  "NOT_CONFIRMED",
  "TIMEOUT",
  "INTERRUPTED",
  "INTERNAL",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorInit {
  hint?: string;
  /** HTTP status when the error is an answer from the server. */
  status?: number;
  /** Seconds the server asked us to wait (Retry-After), when it said so. */
  retryAfterMs?: number;
  /** Whether trying the same request again may succeed. */
  transient?: boolean;
  cause?: unknown;
}

export class UploadError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly transient: boolean;

  constructor(code: ErrorCode, message: string, init: ErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "UploadError";
    this.code = code;
    this.hint = init.hint;
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
    this.transient = init.transient ?? false;
  }
}

/** Where an unknown error was caught: it decides the code and whether a retry can help. */
export type ErrorSite =
  /** A request to `url` failed on the wire (or `signal` said why it was cut). */
  | { kind: "network"; url: string; signal?: AbortSignal }
  /** Our side of the upload: the source, the tar check, the compressor. */
  | { kind: "local" }
  /** Nowhere we expected: a bug. */
  | { kind: "unexpected" };

export function toUploadError(e: unknown, context: ErrorSite): UploadError {
  if (e instanceof UploadError) return e;
  const message = (e as Error)?.message ?? String(e);
  switch (context.kind) {
    case "network":
      return networkError(e, context.url, context.signal);
    case "local":
      return new UploadError("INPUT", `preparing the image stream failed: ${message}`, { cause: e });
    case "unexpected":
      return new UploadError("INTERNAL", `unexpected failure: ${message}`, {
        hint: "please report this at the project's issue tracker with the command you ran",
        cause: e,
      });
  }
}

const TLS_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/i;
const DNS_CODES = /ENOTFOUND|EAI_AGAIN|DNS/i;

/** Names what went wrong on the wire and whether trying again can help. */
function networkError(e: unknown, url: string, signal: AbortSignal | undefined): UploadError {
  if (signal?.aborted && signal.reason instanceof UploadError) return signal.reason;
  const err = e as { code?: string; message?: string; name?: string };
  const code = err?.code ?? "";
  const message = err?.message ?? String(e);
  const host = hostOf(url);
  if (TLS_CODES.test(code) || TLS_CODES.test(message)) {
    return new UploadError("TLS", `TLS failed for ${host}: ${message}`, {
      hint: "for a private CA pass --cacert FILE (or set SSL_CERT_FILE)",
      cause: e,
    });
  }
  if (DNS_CODES.test(code) || /getaddrinfo|resolve host|DNS/i.test(message)) {
    return new UploadError("NETWORK", `cannot resolve host ${host} (${code || message})`, {
      hint: "check the host name in RUNTIME_API_URL and your DNS or proxy settings",
      // A name that does not exist will not exist in ten seconds either; a DNS hiccup may pass.
      transient: code === "EAI_AGAIN",
      cause: e,
    });
  }
  const reason = signal?.aborted ? (signal.reason as { name?: string }) : undefined;
  if (err?.name === "TimeoutError" || reason?.name === "TimeoutError") {
    return new UploadError("NETWORK", `${host} did not answer in time`, { transient: true, cause: e });
  }
  return new UploadError("NETWORK", `connection to ${host} failed: ${code || message}`, {
    hint: "check that RUNTIME_API_URL is reachable from this machine",
    transient: true,
    cause: e,
  });
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
export type Signal = keyof typeof SIGNAL_EXIT;

/** Every exit code, and what it means: the reference (docs/reference.md) is written from this. */
export const EXIT_CODES: ReadonlyArray<readonly [number, string]> = [
  [0, "success: the build reached SUCCESS (or a dry run, a skip, a status that is not a failure)"],
  [1, "any failure: configuration, engine, input, network, server, build failed, timeout"],
  [2, "usage error: a bad option or value"],
  [SIGNAL_EXIT.SIGINT, "interrupted by Ctrl-C (SIGINT), in any phase"],
  [SIGNAL_EXIT.SIGTERM, "interrupted by SIGTERM, in any phase"],
  [SIGNAL_EXIT.SIGHUP, "interrupted by SIGHUP, in any phase"],
];

/** The exit code for a failure: a caught signal's own code wins, then usage errors are 2, the rest 1. */
export function exitCode(error: UploadError, signal: Signal | undefined): number {
  if (signal) return SIGNAL_EXIT[signal];
  return error.code === "USAGE" ? 2 : 1;
}
