import { startBuild } from "./api.ts";
import type { Endpoint } from "./config.ts";
import { UploadError } from "./errors.ts";
import { type GzipOptions, gzip } from "./gzip.ts";
import { multipart } from "./multipart.ts";
import type { Source } from "./source.ts";
import { count, type Meter, rechunk, sha256 } from "./streams.ts";

/** Bun's fetch pays a fixed cost per chunk: 1 MiB chunks keep it off the profile. */
const SEND_CHUNK = 1024 * 1024;

export interface UploadRequest {
  endpoint: Endpoint;
  /** target_image: the image name as given on the command line. */
  image: string;
  tags: readonly string[];
  source: Source;
  gzip: GzipOptions;
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

/** The [UP] form: the gzip as a file part, target_image, then tags_0, tags_1, … */
export function formFields(image: string, tags: readonly string[]): Array<[string, string]> {
  return [["target_image", image], ...tags.map((t, i): [string, string] => [`tags_${i}`, t])];
}

/**
 * One attempt: source → gzip → multipart → POST /build, all streamed. If the source
 * fails, the request is aborted before the closing boundary and the source's own error
 * is what the caller sees (not fetch's generic one).
 */
export async function uploadOnce(req: UploadRequest, progress: Progress, signal: AbortSignal): Promise<UploadResult> {
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(signal.reason);
  signal.addEventListener("abort", onOuterAbort, { once: true });
  let sourceError: unknown;
  let digest = "";
  progress.read.bytes = 0;
  progress.sent.bytes = 0;
  try {
    const tar = guard(req.source.open(), (e) => {
      sourceError = e;
      abort.abort(e);
    });
    const compressed = rechunk(gzip(count(tar, progress.read), req.gzip), SEND_CHUNK);
    const sent = count(
      sha256(compressed, (hex) => {
        digest = hex;
      }),
      progress.sent,
    );
    const form = multipart(formFields(req.image, req.tags), {
      name: "context",
      filename: "image.tar.gz",
      contentType: "application/gzip",
      body: sent,
    });
    const buildId = await startBuild(req.endpoint, form, abort.signal);
    return { buildId, bytesRead: progress.read.bytes, bytesSent: progress.sent.bytes, sha256: digest };
  } catch (e) {
    if (sourceError !== undefined) throw asUploadError(sourceError);
    if (signal.aborted) throw signal.reason;
    throw e;
  } finally {
    signal.removeEventListener("abort", onOuterAbort);
  }
}

/** Passes chunks through; reports the first read error before the stream errors. */
function guard(input: ReadableStream<Uint8Array>, onError: (e: unknown) => void): ReadableStream<Uint8Array> {
  const reader = input.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (e) {
          onError(e);
          controller.error(e);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

function asUploadError(e: unknown): UploadError {
  if (e instanceof UploadError) return e;
  return new UploadError("INPUT", `reading the image failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}
