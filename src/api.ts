import { FetchError, ofetch } from "ofetch";
import type { Endpoint } from "./config.ts";
import { UploadError } from "./errors.ts";
import type { Multipart } from "./multipart.ts";

/** A server error body is shown to the user, never trusted to be small. */
const MAX_ERROR_BODY = 64 * 1024;
const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export interface BuildStatus {
  status: string;
  image?: string;
  error?: string;
}

function headers(ep: Endpoint): Record<string, string> {
  return { "X-API-Key": ep.apiKey, Accept: "application/json" };
}

/** POST /build with a streamed multipart body; resolves to the build id. */
export async function startBuild(ep: Endpoint, form: Multipart, signal: AbortSignal): Promise<string> {
  const url = `${ep.baseUrl}/build`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { ...headers(ep), "Content-Type": form.contentType },
      body: form.body,
      signal,
      tls: ep.tls,
      // A stream body cannot be replayed by a redirect; failing loudly beats a silent resend.
      redirect: "error",
    });
  } catch (e) {
    throw toNetworkError(e, url, signal);
  }
  const text = await readCapped(res, MAX_ERROR_BODY);
  if (!res.ok) throw httpError(res.status, text, url, res.headers.get("retry-after"));
  const id = parseJson(text)?.build_id;
  if (typeof id !== "string" || id === "") {
    throw new UploadError("NO_BUILD_ID", `No build_id in response from ${url} (HTTP ${res.status})`, {
      hint: "the server accepted the upload but did not start a build: check RUNTIME_API_URL points at the Runtime-API",
    });
  }
  return id;
}

/**
 * One GET of a small JSON document. The body is parsed here, not by ofetch, so an error
 * page or a cut-off body is reported as a bad answer, not as a network fault. A 404 means
 * something different on each endpoint, so the caller names it.
 */
async function getJson(
  ep: Endpoint,
  path: string,
  query: Record<string, string>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  notFound: (url: string, body: string) => UploadError,
): Promise<Record<string, unknown>> {
  const url = `${ep.baseUrl}${path}`;
  let text: string;
  try {
    text = await ofetch(url, {
      query,
      headers: headers(ep),
      retry: 0,
      timeout: timeoutMs,
      signal,
      responseType: "text",
      // ofetch hands unknown options to fetch: Bun reads `tls` there.
      ...({ tls: ep.tls } as object),
    });
  } catch (e) {
    if (e instanceof FetchError && e.response) {
      const body = typeof e.data === "string" ? e.data : "";
      if (e.response.status === 404) throw notFound(url, body);
      throw httpError(e.response.status, body, url, e.response.headers.get("retry-after"));
    }
    throw toNetworkError(e instanceof FetchError && e.cause ? e.cause : e, url, signal);
  }
  const data = parseJson(text);
  if (!data) throw badResponse(url);
  return data;
}

/** GET /build_status?build_id=ID, one call. */
export async function getBuildStatus(ep: Endpoint, buildId: string, timeoutMs: number, signal?: AbortSignal): Promise<BuildStatus> {
  const d = await getJson(
    ep,
    "/build_status",
    { build_id: buildId },
    timeoutMs,
    signal,
    (url, body) =>
      new UploadError("NOT_FOUND", `build ${buildId} was not found at ${url} (HTTP 404): ${errorDetail(body)}`, {
        status: 404,
        hint: "check the build ID, and that RUNTIME_API_URL is the server the build was started on",
      }),
  );
  return {
    status: typeof d.status === "string" ? d.status : "",
    image: typeof d.image === "string" ? d.image : undefined,
    error: typeof d.error === "string" ? d.error : undefined,
  };
}

/** GET /image_exists?image=REF ([OH] servers): whether the target is already built. */
export async function imageExists(ep: Endpoint, image: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const d = await getJson(
    ep,
    "/image_exists",
    { image },
    timeoutMs,
    signal,
    (url) =>
      new UploadError("NOT_FOUND", `${url} is not offered by this Runtime-API (HTTP 404)`, {
        hint: "drop --skip-existing: only OpenHands-style servers answer /image_exists",
      }),
  );
  if (typeof d.exists !== "boolean") throw badResponse(`${ep.baseUrl}/image_exists`);
  return d.exists;
}

function badResponse(url: string): UploadError {
  return new UploadError("BAD_RESPONSE", `malformed JSON from ${url}`, { transient: true });
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The `detail` a FastAPI-style server puts in its errors, else the start of the body. */
export function errorDetail(body: string): string {
  const detail = parseJson(body)?.detail;
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

async function readCapped(res: Response, cap: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  while (size < cap) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    size += value.byteLength;
  }
  if (size >= cap) await reader.cancel().catch(() => {});
  return Buffer.concat(parts, size).subarray(0, cap).toString("utf8");
}

const TLS_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/i;
const DNS_CODES = /ENOTFOUND|EAI_AGAIN|DNS/i;

/** Names what went wrong on the wire and whether trying again can help. */
export function toNetworkError(e: unknown, url: string, signal?: AbortSignal): UploadError {
  if (e instanceof UploadError) return e;
  if (signal?.aborted && signal.reason instanceof UploadError) return signal.reason;
  const err = e as { code?: string; message?: string; name?: string };
  const code = err?.code ?? "";
  const message = err?.message ?? String(e);
  const host = safeHost(url);
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
  if (err?.name === "TimeoutError") {
    return new UploadError("NETWORK", `${host} did not answer in time`, { transient: true, cause: e });
  }
  return new UploadError("NETWORK", `connection to ${host} failed: ${code || message}`, {
    hint: "check that RUNTIME_API_URL is reachable from this machine",
    transient: true,
    cause: e,
  });
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
