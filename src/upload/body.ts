/**
 * What is sent: the source's tar, checked as it passes, compressed (unless it is gzip
 * already), base64'd for the [OH] form, counted and hashed.
 */
import type { Endpoint } from "../api/endpoint.ts";
import type { FormShape } from "../api/multipart.ts";
import { type ErrorSite, UploadError } from "../errors.ts";
import { type GzipOptions, gzip, type LevelBytes, type ReadMeter } from "../gzip/gzip.ts";
import { Recycler } from "../lib/recycle.ts";
import { base64, count, type Meter, rechunk, tap } from "../lib/streams.ts";
import { type Source, tornError } from "../source/source.ts";
import { checkGzippedTar, checkTar, checkTarFile, type Torn } from "../tar/check.ts";
import { writeAlong } from "./output-file.ts";
import { spendHashed } from "./spend-hashed.ts";

export const LOCAL_SITE: ErrorSite = { kind: "local" };

/** 8 blocks of garbage: the GC cadence that held peak RSS flat at 1 and 4 GiB. */
const GC_EVERY = 16 * 1024 * 1024;

/** Bun's fetch pays ~0.1 ms per chunk: at 512 KiB and up that is under 1 % of the upload. */
const SEND_CHUNK = 512 * 1024;

export interface UploadRequest {
  endpoint: Endpoint;
  /** target_image: what the server builds (inside its registry prefix where it has one). */
  targetImage: string;
  tags: readonly string[];
  source: Source;
  gzip: GzipOptions;
  form: FormShape;
  /** Full references the built image is also pushed as ([OH] form): a whole image named by content, for reuse. */
  alsoAs?: readonly string[];
  /** Also write the gzip'd body here (a dry run's --output). */
  output?: string;
}

export interface Progress {
  /** Uncompressed tar bytes read from the source, and at each gzip level (where this tool compresses in blocks). */
  read: ReadMeter;
  /** Compressed bytes handed to the socket. */
  sent: Meter;
}

export interface UploadResult {
  buildId: string;
  bytesRead: number;
  bytesSent: number;
  sha256: string;
  levels?: LevelBytes;
}

/**
 * Everything on our side of the socket: source → tar check → gzip (unless the source is
 * gzip already) → base64 for the [OH] form → counted and hashed as sent. Each chunk is
 * given to `recycler` once it is spent.
 */
export function uploadBody(
  req: UploadRequest,
  progress: Progress,
  onDigest: (hex: string) => void,
  recycler = new Recycler(GC_EVERY),
): ReadableStream<Uint8Array> {
  progress.read.bytes = 0;
  progress.read.levels = req.gzip.mode === "parallel" && !req.source.gzipped ? new Map() : undefined;
  progress.sent.bytes = 0;
  const { source } = req;
  const torn: Torn = (e) => tornError(source, e);
  let gz: ReadableStream<Uint8Array>;
  if (source.gzipped) gz = checkGzippedTar(count(source.open(), progress.read), torn);
  // A file's blocks are read by the Workers: its headers are walked on disk at the end.
  else gz = gzip(source.file ? { file: source.file } : checkTar(source.open(), torn), req.gzip, progress.read, recycler);
  if (source.kind === "file") gz = unchanged(gz, progress.read, source, torn);
  if (req.output) gz = writeAlong(gz, req.output);
  const encoded = req.form === "openhands" ? base64(gz, recycler) : gz;
  return spendHashed(count(rechunk(encoded, SEND_CHUNK, recycler), progress.sent), recycler, onDigest);
}

/**
 * A file that is still being written (or cut short) while we read it would arrive as a
 * torn image: fail before the closing boundary, so the server starts no build from it.
 */
function unchanged(input: ReadableStream<Uint8Array>, read: Meter, source: Source, torn: Torn): ReadableStream<Uint8Array> {
  return tap(
    input,
    () => {},
    () => {
      if (source.size !== undefined && read.bytes !== source.size) {
        throw new UploadError("INPUT", `${source.label} changed while it was read: ${read.bytes} bytes read, ${source.size} expected`, {
          hint: "wait until whatever writes the archive has finished, then run again",
        });
      }
      if (source.file) checkTarFile(source.file, read.bytes, torn);
    },
  );
}
