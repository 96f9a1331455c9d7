/**
 * Talking HTTP to a server we do not control: answers are read with a size cap and under
 * a deadline, redirects are never followed (the key must not leave RUNTIME_API_URL's
 * origin), and every failure becomes an UploadError that says whether a retry can help.
 */
import { UploadError } from "../errors.ts";
import { jsonObject } from "../lib/document.ts";
import { clampTimer } from "../lib/retry.ts";

const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/** A signal that fires on the caller's abort or after `ms`, whichever comes first. */
export function withDeadline(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const deadline = AbortSignal.timeout(clampTimer(ms));
  return signal ? AbortSignal.any([signal, deadline]) : deadline;
}

/**
 * A 3xx is an answer we refuse: following it would hand the key to whatever host it names,
 * and an uploaded body cannot be replayed anyway.
 */
export function refuseRedirect(res: Response, url: string): void {
  if (res.status < 300 || res.status >= 400) return;
  const location = res.headers.get("location");
  const to = location ? ` to ${safeUrl(location, url)}` : "";
  throw new UploadError(
    "REDIRECT",
    `${safeUrl(url, url)} answered HTTP ${res.status}, a redirect${to}, which runtime-upload does not follow`,
    {
      status: res.status,
      hint: "the API key is only ever sent to RUNTIME_API_URL's own origin: if you trust the new address, set RUNTIME_API_URL to it",
    },
  );
}

/** A URL for messages: origin and path only, so no credentials or tokens in a query are shown. */
export function safeUrl(raw: string, base?: string): string {
  try {
    const u = new URL(raw, base);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(an address that is not a valid URL)";
  }
}

/**
 * Reads at most `cap` bytes of an answer before `signal` fires. Over the cap, an error
 * answer is cut (it is only shown); a document we must parse fails with its size.
 */
export async function readCapped(res: Response, cap: number, url: string, signal: AbortSignal, truncate: boolean): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  const aborted = new Promise<never>((_, reject) => {
    const fail = () => reject(signal.reason);
    if (signal.aborted) fail();
    else signal.addEventListener("abort", fail, { once: true });
  });
  aborted.catch(() => {});
  try {
    while (size <= cap) {
      const { done, value } = await Promise.race([reader.read(), aborted]);
      if (done) return Buffer.concat(parts, size).toString("utf8");
      parts.push(value);
      size += value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  if (truncate) return Buffer.concat(parts, size).subarray(0, cap).toString("utf8");
  throw new UploadError("BAD_RESPONSE", `${safeUrl(url)} sent an answer larger than ${cap} bytes (${size} read before giving up)`, {
    hint: "RUNTIME_API_URL may point at something other than the Runtime-API (a proxy or a file server)",
  });
}

/**
 * The `detail` a FastAPI-style server puts in its errors (or the field `key` names: a
 * Docker engine's `message`), else the start of the body.
 */
export function errorDetail(body: string, key = "detail"): string {
  const detail = jsonObject(body)?.[key];
  if (typeof detail === "string") return detail;
  if (detail !== undefined) return JSON.stringify(detail);
  return body.trim().slice(0, 200);
}

/** Retry-After is either delay-seconds or an HTTP-date (RFC 9110 section 10.2.3). */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export function httpError(status: number, body: string, url: string, retryAfter: string | null, now = Date.now()): UploadError {
  const detail = errorDetail(body);
  const said = detail ? `: ${detail}` : "";
  const init = { status, retryAfterMs: parseRetryAfter(retryAfter, now), transient: TRANSIENT_STATUS.has(status) };
  switch (status) {
    case 401:
    case 403:
      return new UploadError("AUTH", `the Runtime-API rejected the API key (HTTP ${status})${said}`, {
        ...init,
        hint: "check RUNTIME_API_KEY (or --api-key-file): it must be a valid key for this RUNTIME_API_URL",
      });
    case 404:
      return new UploadError("NOT_FOUND", `${url} was not found (HTTP 404)${said}`, {
        ...init,
        hint: "check RUNTIME_API_URL: it should be the API's base URL, without /build",
      });
    case 413:
      return new UploadError("TOO_LARGE", `the server refused the upload as too large (HTTP 413)${said}`, {
        ...init,
        hint: "make the image smaller, or ask the Runtime-API operator to raise the body size limit",
      });
    case 429:
      return new UploadError("RATE_LIMITED", `rate limited by the Runtime-API (HTTP 429)${said}`, init);
    default:
      return new UploadError("HTTP", `${url} answered HTTP ${status}${said}`, init);
  }
}
