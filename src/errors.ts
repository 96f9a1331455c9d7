/**
 * Every failure the tool can report is an UploadError with a stable code and a hint
 * that tells the user what to do next. The cli maps codes to exit codes in one table.
 */
export type ErrorCode =
  | "USAGE"
  | "CONFIG"
  | "DOCKER_UNAVAILABLE"
  | "IMAGE_NOT_FOUND"
  | "DOCKER_PULL"
  | "DOCKER_SAVE"
  | "INPUT"
  | "AUTH"
  | "NOT_FOUND"
  | "TOO_LARGE"
  | "RATE_LIMITED"
  | "HTTP"
  | "NETWORK"
  | "TLS"
  | "STALLED"
  | "BAD_RESPONSE"
  | "REDIRECT"
  | "NO_ANSWER"
  | "NO_BUILD_ID"
  | "BUILD_FAILED"
  | "TIMEOUT"
  | "INTERRUPTED"
  | "INTERNAL";

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
