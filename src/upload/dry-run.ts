/** A dry run: the whole pipeline into a null sink, for its size, ratio and digest, without a server. */
import { toUploadError } from "../errors.ts";
import type { LevelBytes } from "../gzip/gzip.ts";
import { abortable } from "../lib/streams.ts";
import { LOCAL_SITE, type Progress, type UploadRequest, uploadBody } from "./body.ts";
import { abandonOutput } from "./output-file.ts";

export interface DryRunResult {
  bytesRead: number;
  bytesSent: number;
  sha256: string;
  levels?: LevelBytes;
}

/** The whole pipeline into a null sink: size, ratio and digest without a server. */
export async function dryRun(req: UploadRequest, progress: Progress, signal: AbortSignal): Promise<DryRunResult> {
  let digest = "";
  const body = uploadBody(req, progress, (hex) => {
    digest = hex;
  });
  try {
    for await (const _ of abortable(body, signal) as unknown as AsyncIterable<Uint8Array>) {
      // counted and hashed on the way
    }
  } catch (e) {
    if (req.output) abandonOutput(req.output);
    throw toUploadError(e, LOCAL_SITE);
  }
  return { bytesRead: progress.read.bytes, bytesSent: progress.sent.bytes, sha256: digest, levels: progress.read.levels };
}

/** What a single attempt may take: no progress for `stallMs`; no answer `answerMs` after the whole body. */
