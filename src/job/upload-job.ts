/**
 * The upload job: name the target image, choose the source, send it, wait for the build,
 * confirm the result. Prints nothing: it tells what happens through onEvent.
 */
import { imageExists } from "../api/client.ts";
import { UploadError } from "../errors.ts";
import { build } from "./build.ts";
import { dockerfileUpload } from "./dockerfile-upload.ts";
import type { JobOptions, JobResult } from "./job.ts";
import { jobSource } from "./job-source.ts";
import { targetImageOf } from "./target-image.ts";

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
  if (o.context === "image") return build(o, image.source, targetImage);
  return dockerfileUpload(o, image, targetImage, prefix);
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
