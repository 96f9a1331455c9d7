/**
 * The upload job: name the target image, choose the source, send it, wait for the build,
 * confirm the result. Prints nothing: it tells what happens through onEvent.
 */
import { type ImageRecord, imageExists } from "../api/client.ts";
import { flattenedContext, readImage, wrongContext } from "../context/build-context.ts";
import { layeredContext } from "../context/layered-context.ts";
import { UploadError } from "../errors.ts";
import { DEFAULT_RETRY } from "../lib/retry.ts";
import type { Source } from "../source/source.ts";
import type { Progress } from "../upload/body.ts";
import { dryRun } from "../upload/dry-run.ts";
import { sendWithRetries } from "../upload/send.ts";
import type { JobOptions, JobResult } from "./job.ts";
import { jobSource } from "./job-source.ts";
import { planReuse } from "./reuse.ts";
import { targetImageOf } from "./target-image.ts";
import { waitForBuild } from "./wait-for-build.ts";

/** The main job: find the image, stream it up, wait for the build. Prints nothing. */
export async function runUploadJob(o: JobOptions): Promise<JobResult> {
  // What the server builds; the engine and the archive only ever see o.localImage.
  const { targetImage, prefix } = await targetImageOf(o);
  if (o.skipExisting && !o.dryRun && (await existence(o, targetImage))) {
    o.onEvent({ type: "skipped", targetImage });
    return { outcome: "skipped", targetImage };
  }
  const image = await jobSource(o);
  // A signal that came while the engine answered must not be followed by an upload.
  if (o.signal.aborted) throw o.signal.reason;
  if (o.context === "image") return send(o, image, targetImage);
  o.onEvent({ type: "flattening", source: image });
  const read = await readImage(image, o.signal);
  const plan = o.reuse === "auto" ? await planReuse(o, read, prefix) : undefined;
  if (plan?.kind === "off") o.onEvent({ type: "no-reuse", why: plan.why });
  if (plan?.kind !== "on") return send(o, flattenedContext(read, o.localImage), targetImage);
  try {
    if (plan.seed) {
      const { seed } = plan;
      o.onEvent({ type: "seeding", base: seed.name, layers: seed.layers, bytes: plan.reuse.bytesReused });
      await send(o, flattenedContext(read, o.localImage, { layers: seed.layers }), seed.name, { tags: [] });
    }
    o.onEvent({ type: "reuse", reuse: plan.reuse });
    const built = await send(o, layeredContext(read, plan.layering, o.localImage), targetImage, { alsoAs: plan.whole ? [plan.whole] : [] });
    return { ...built, reuse: plan.reuse };
  } catch (e) {
    // A base that broke its build, or vanished between the question and the build: the whole image, once.
    if (!(e instanceof UploadError) || e.code !== "BUILD_FAILED") throw e;
    o.onEvent({ type: "reuse-failed", why: e.message });
    return send(o, flattenedContext(read, o.localImage), targetImage);
  }
}

/** One context sent and built: the upload (or the dry run), the wait, the confirmation. */
async function send(
  o: JobOptions,
  source: Source,
  targetImage: string,
  names: { tags?: readonly string[]; alsoAs?: readonly string[] } = {},
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
  o.onEvent({ type: "uploading", url: `${o.endpoint.baseUrl}/build`, progress, size: source.size });
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
  o.onEvent({ type: "uploaded", result });
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

/** --skip-existing needs a yes or a no: a server that cannot say is told to the user, not guessed at. */
async function existence(o: JobOptions, image: string): Promise<boolean> {
  const answer = await imageExists(o.endpoint, image, o.statusTimeoutMs, o.signal);
  if (answer.exists === undefined) {
    throw new UploadError("NOT_FOUND", `--skip-existing cannot tell whether ${image} exists: ${answer.why}`, {
      hint: "drop --skip-existing for this server",
    });
  }
  return answer.exists;
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
