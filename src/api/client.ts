/** The Runtime-API's endpoints, as ../shared/runtime-api-contract.md describes them. */
import { FetchError, ofetch } from "ofetch";
import { toUploadError, UploadError } from "../errors.ts";
import { jsonObject } from "../lib/document.ts";
import type { Endpoint } from "./endpoint.ts";
import { errorDetail, httpError, readCapped, refuseRedirect, safeUrl, withDeadline } from "./http.ts";
import type { Multipart } from "./multipart.ts";

/** A server error body is shown to the user, never trusted to be small. */
const MAX_ERROR_BODY = 64 * 1024;
/** Status documents are a few hundred bytes; a megabyte is a server gone wrong. */
const MAX_DOCUMENT = 1024 * 1024;

export interface BuildStatus {
  status: string;
  image?: string;
  error?: string;
}

function headers(ep: Endpoint): Record<string, string> {
  return { "X-API-Key": ep.apiKey, Accept: "application/json" };
}

/**
 * POST /build with a streamed multipart body; resolves to the build id. `signal` bounds
 * the whole exchange, the answer's body included.
 */
export async function startBuild(ep: Endpoint, form: Multipart, signal: AbortSignal): Promise<string> {
  const url = `${ep.baseUrl}/build`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { ...headers(ep), "Content-Type": form.contentType },
      body: form.body,
      signal,
      tls: ep.tls,
      redirect: "manual",
    });
    refuseRedirect(res, url);
    text = await readCapped(res, res.ok ? MAX_DOCUMENT : MAX_ERROR_BODY, url, signal, !res.ok);
  } catch (e) {
    throw toUploadError(e, { kind: "network", url, signal });
  }
  if (!res.ok) throw httpError(res.status, text, url, res.headers.get("retry-after"));
  const id = jsonObject(text)?.build_id;
  if (typeof id !== "string" || id === "") {
    throw new UploadError("NO_BUILD_ID", `No build_id in response from ${url} (HTTP ${res.status})`, {
      hint: "the server accepted the upload but did not start a build: check RUNTIME_API_URL points at the Runtime-API",
    });
  }
  return id;
}

/**
 * One GET of a small JSON document, whole within `timeoutMs`. The body is read and parsed
 * here, capped, so an error page, a cut-off body or an endless one is reported as a bad
 * answer, not as a network fault. A 404 means something different on each endpoint.
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
  const deadline = withDeadline(signal, timeoutMs);
  let text: string;
  try {
    const res = await ofetch.raw(url, {
      query,
      headers: headers(ep),
      retry: 0,
      signal: deadline,
      responseType: "stream",
      ignoreResponseError: true,
      redirect: "manual",
      // ofetch hands unknown options to fetch: Bun reads `tls` there.
      ...({ tls: ep.tls } as object),
    });
    refuseRedirect(res, url);
    if (!res.ok) {
      const body = await readCapped(res, MAX_ERROR_BODY, url, deadline, true);
      throw res.status === 404 ? notFound(url, body) : httpError(res.status, body, url, res.headers.get("retry-after"));
    }
    text = await readCapped(res, MAX_DOCUMENT, url, deadline, false);
  } catch (e) {
    throw toUploadError(e instanceof FetchError && e.cause ? e.cause : e, { kind: "network", url, signal: deadline });
  }
  const data = jsonObject(text);
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

export interface ImageRecord {
  exists: boolean;
  uploadTime?: string;
  sizeBytes?: number;
}

/** What GET /image_exists could tell: a record, or why the server could not say. */
export type Existence = ImageRecord | { exists: undefined; why: string };

/** A server without the endpoint answers 404: the caller decides what that means. */
function notOffered(url: string): UploadError {
  return new UploadError("NOT_FOUND", `${url} is not offered by this Runtime-API (HTTP 404)`, {
    status: 404,
    hint: "only OpenHands-style servers answer it: drop the option that needs it",
  });
}

/**
 * GET /image_exists?image=REF ([OH] servers): whether the image is there, and what the
 * server knows of it. A server without the endpoint, or whose answer holds no boolean
 * `exists`, cannot say: that is an answer too, not a fault to retry.
 */
export async function imageExists(ep: Endpoint, image: string, timeoutMs: number, signal?: AbortSignal): Promise<Existence> {
  let d: Record<string, unknown>;
  try {
    d = await getJson(ep, "/image_exists", { image }, timeoutMs, signal, notOffered);
  } catch (e) {
    if (e instanceof UploadError && e.code === "NOT_FOUND") return { exists: undefined, why: "the server has no /image_exists" };
    throw e;
  }
  if (typeof d.exists !== "boolean") return { exists: undefined, why: "the server's /image_exists answer holds no boolean 'exists'" };
  const info = (typeof d.image === "object" && d.image !== null ? d.image : {}) as Record<string, unknown>;
  return {
    exists: d.exists,
    uploadTime: typeof info.upload_time === "string" ? info.upload_time : undefined,
    sizeBytes: typeof info.image_size_bytes === "number" ? info.image_size_bytes : undefined,
  };
}

/** GET /registry_prefix ([OH] servers): where the server pushes what it builds; undefined where it has no such endpoint. */
export async function registryPrefix(ep: Endpoint, timeoutMs: number, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const d = await getJson(ep, "/registry_prefix", {}, timeoutMs, signal, notOffered);
    if (typeof d.registry_prefix !== "string" || !d.registry_prefix.trim()) throw badResponse(`${ep.baseUrl}/registry_prefix`);
    return d.registry_prefix.trim();
  } catch (e) {
    if (e instanceof UploadError && e.code === "NOT_FOUND") return undefined;
    throw e;
  }
}

function badResponse(url: string): UploadError {
  return new UploadError("BAD_RESPONSE", `malformed JSON from ${safeUrl(url)}`, { transient: true });
}
