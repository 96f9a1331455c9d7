/**
 * One context sent and built: the upload (or the dry run), the wait for the build, and the
 * server's word that the image is there.
 */
import { type ImageRecord, imageExists } from "../api/client.ts";
import { wrongContext } from "../context/build-context.ts";
import { UploadError } from "../errors.ts";
import { DEFAULT_RETRY } from "../lib/retry.ts";
import type { Source } from "../source/source.ts";
import type { Progress } from "../upload/body.ts";
import { dryRun } from "../upload/dry-run.ts";
import { sendWithRetries } from "../upload/send.ts";
import type { JobOptions, JobResult } from "./job.ts";
import { waitForBuild } from "./wait-for-build.ts";

/** One context sent and built: the upload (or the dry run), the wait, the confirmation. */
export async function build(
  o: JobOptions,
  source: Source,
  targetImage: string,
  names: { tags?: readonly string[]; alsoAs?: readonly string[]; base?: boolean } = {},
): Promise<JobResult> {
  o.onEvent({ type: "saving", source });
  const progress: Progress = { read: { bytes: 0 }, sent: { bytes: 0 } };
  const tags = names.tags ?? o.tags;
  const req = { endpoint: o.endpoint, targetImage, tags, alsoAs: names.alsoAs, source, gzip: o.gzip, form: o.form, output: o.output };
  const started = o.clock.now();
  if (o.dryRun) {
    const result = await dryRun(req, progress, o.signal);
    o.onEvent({ type: "dry-run", result });
    return { outcome: "dry-run", upload: result, targetImage, uploadSeconds: (o.clock.now() - started) / 1000 };
  }
  o.onEvent({ type: "uploading", url: `${o.endpoint.baseUrl}/build`, progress, size: source.size, from: source.kind });
  const hinted = (e: unknown) => {
    throw wrongContext(e, source.flattened === true);
  };
  const result = await sendWithRetries(req, progress, {
    policy: { ...DEFAULT_RETRY, retries: o.retries },
    clock: o.clock,
    random: Math.random,
    limits: { stallTimeoutMs: o.stallTimeoutMs, responseTimeoutMs: o.responseTimeoutMs },
    signal: o.signal,
    onRetry: (retry) => o.onEvent({ type: "upload-retry", retry }),
  }).catch(hinted);
  o.onEvent({ type: "uploaded", result, build: names.base ? "base" : "image" });
  const uploaded = o.clock.now();
  const built = (await waitForBuild(o, result.buildId).catch(hinted)) || targetImage;
  const record = await confirm(o, built, result.buildId);
  return {
    outcome: "built",
    upload: result,
    targetImage: built,
    record,
    uploadSeconds: (uploaded - started) / 1000,
    buildSeconds: (o.clock.now() - uploaded) / 1000,
  };
}

/** After SUCCESS, the image must really be there, where the server can say so. */
async function confirm(o: JobOptions, image: string, buildId: string): Promise<ImageRecord | undefined> {
  const record = await imageExists(o.endpoint, image, o.statusTimeoutMs, o.signal);
  if (record.exists === false) {
    throw new UploadError("NOT_CONFIRMED", `build ${buildId} reported SUCCESS, but the Runtime-API says ${image} does not exist`, {
      hint: "the server may have failed to push it: check the build on the Runtime-API before using the image",
    });
  }
  o.onEvent({ type: "confirmed", targetImage: image, record });
  return record.exists ? record : undefined;
}
