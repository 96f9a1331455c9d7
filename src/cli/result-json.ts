/**
 * The machine-readable result (--json): one object, the same shape for success and
 * failure, for every command, described by test/result.schema.json.
 */
import type { UploadError } from "../errors.ts";
import type { LevelBytes } from "../gzip/gzip.ts";

export interface JsonResult {
  ok: boolean;
  outcome: "built" | "skipped" | "dry-run" | "status" | "failed";
  build_id: string | null;
  /** What build_id builds: the image, or a base a reuse upload builds before it. */
  build_kind: "image" | "base" | null;
  status: string | null;
  image: string | null;
  bytes_read: number | null;
  bytes_sent: number | null;
  /** Each gzip level the body used, with the bytes read and sent at it (null where this tool compressed no blocks). */
  levels: Array<{ level: number; bytes_read: number; bytes_sent: number }> | null;
  sha256: string | null;
  /** From GET /image_exists after the build, where the server has it. */
  upload_time: string | null;
  image_size_bytes: number | null;
  /** Layer reuse (--context dockerfile on a builder server): null where none was tried. */
  layers_total: number | null;
  layers_reused: number | null;
  bytes_reused: number | null;
  base_image: string | null;
  durations: { upload_s: number | null; build_s: number | null; total_s: number };
  error: { code: string; message: string; hint: string | null } | null;
}

/** What is known about a run so far: filled in as its events arrive, read when it ends. */
export interface RunFacts {
  outcome?: "built" | "skipped" | "dry-run" | "status";
  buildId?: string;
  buildKind?: "image" | "base";
  status?: string;
  image?: string;
  bytesRead?: number;
  bytesSent?: number;
  levels?: LevelBytes;
  sha256?: string;
  uploadTime?: string;
  imageSizeBytes?: number;
  layersTotal?: number;
  layersReused?: number;
  bytesReused?: number;
  baseImage?: string;
  uploadSeconds?: number;
  buildSeconds?: number;
}

export function resultJson(f: RunFacts, error: UploadError | undefined, totalSeconds: number): JsonResult {
  return {
    ok: error === undefined && f.outcome !== undefined,
    outcome: error ? "failed" : (f.outcome ?? "failed"),
    build_id: f.buildId ?? null,
    build_kind: f.buildKind ?? null,
    status: f.status ?? null,
    image: error ? null : (f.image ?? null),
    bytes_read: f.bytesRead ?? null,
    bytes_sent: f.bytesSent ?? null,
    levels: f.levels
      ? [...f.levels].sort((a, b) => a[0] - b[0]).map(([level, b]) => ({ level, bytes_read: b.read, bytes_sent: b.sent }))
      : null,
    sha256: f.sha256 ?? null,
    upload_time: error ? null : (f.uploadTime ?? null),
    image_size_bytes: error ? null : (f.imageSizeBytes ?? null),
    layers_total: f.layersTotal ?? null,
    layers_reused: f.layersReused ?? null,
    bytes_reused: f.bytesReused ?? null,
    base_image: f.baseImage ?? null,
    durations: { upload_s: f.uploadSeconds ?? null, build_s: f.buildSeconds ?? null, total_s: totalSeconds },
    error: error ? { code: error.code, message: error.message, hint: error.hint ?? null } : null,
  };
}
