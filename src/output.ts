/**
 * The machine-readable result (--json): one object, the same shape for success and
 * failure, described by test/result.schema.json.
 */
import type { UploadError } from "./errors.ts";
import type { RunResult } from "./run.ts";

export interface JsonResult {
  ok: boolean;
  outcome: "built" | "skipped" | "dry-run" | "failed";
  build_id: string | null;
  status: string | null;
  image: string | null;
  bytes_read: number | null;
  bytes_sent: number | null;
  sha256: string | null;
  durations: { upload_s: number | null; build_s: number | null; total_s: number };
  error: { code: string; message: string; hint: string | null } | null;
}

export function successJson(r: RunResult, status: string | null, totalSeconds: number): JsonResult {
  return {
    ok: true,
    outcome: r.outcome,
    build_id: r.upload?.buildId ?? null,
    status,
    image: r.image,
    bytes_read: r.upload?.bytesRead ?? null,
    bytes_sent: r.upload?.bytesSent ?? null,
    sha256: r.upload?.sha256 ?? null,
    durations: { upload_s: r.uploadSeconds ?? null, build_s: r.buildSeconds ?? null, total_s: totalSeconds },
    error: null,
  };
}

export interface FailureContext {
  buildId: string | undefined;
  status: string | undefined;
  bytesRead: number | undefined;
  bytesSent: number | undefined;
  sha256: string | undefined;
}

export function failureJson(e: UploadError, c: FailureContext, totalSeconds: number): JsonResult {
  return {
    ok: false,
    outcome: "failed",
    build_id: c.buildId ?? null,
    status: c.status ?? null,
    image: null,
    bytes_read: c.bytesRead ?? null,
    bytes_sent: c.bytesSent ?? null,
    sha256: c.sha256 ?? null,
    durations: { upload_s: null, build_s: null, total_s: totalSeconds },
    error: { code: e.code, message: e.message, hint: e.hint ?? null },
  };
}
