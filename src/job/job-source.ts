/**
 * Where the job's bytes come from: the engine (inspected, pulled as --pull says, saved),
 * a file or stdin; flattened into a Dockerfile build context with --context dockerfile.
 * Only the local image is ever asked of the engine.
 */
import { UploadError } from "../errors.ts";
import { checkPlatformSave, dockerSource, type ImageInfo, inspectImage, pullImage } from "../source/engine.ts";
import { fileSource } from "../source/file-source.ts";
import { parsePlatform } from "../source/oci-index.ts";
import type { Source } from "../source/source.ts";
import { stdinSource } from "../source/stdin-source.ts";
import type { JobOptions } from "./job.ts";

/** The job's source, and what the engine said of the image where it was asked. */
export interface JobSource {
  source: Source;
  info?: ImageInfo;
}

export async function jobSource(o: JobOptions): Promise<JobSource> {
  if (o.input === "-") return { source: stdinSource() };
  if (o.input) return { source: fileSource(o.input, o.platform) };
  if (o.platform) await checkPlatformSave(o.engine, o.signal);
  const pull = async () => {
    o.onEvent({ type: "pulling", localImage: o.localImage });
    await pullImage(o.engine, o.localImage, o.signal);
  };
  if (o.pull === "always") await pull();
  try {
    return engineSource(o, await inspectImage(o.engine, o.localImage, o.signal));
  } catch (e) {
    if (!(e instanceof UploadError) || e.code !== "IMAGE_NOT_FOUND" || o.pull !== "missing") throw e;
  }
  await pull();
  return engineSource(o, await inspectImage(o.engine, o.localImage, o.signal));
}

/**
 * A Dockerfile context may read the image more than once: every read must be of the image
 * the name meant at the start. With --platform, the engine's account of the image is of
 * another platform's, so none is kept. An ID that names an index (Docker's containerd
 * store) is saved for the platform the engine described, the image the user has.
 */
function engineSource(o: JobOptions, info: ImageInfo): JobSource {
  const platform = o.platform ?? (info.index && info.platform ? parsePlatform(info.platform) : undefined);
  const source = dockerSource(o.engine, o.localImage, info.size, platform, o.context === "dockerfile" ? info.id : undefined);
  return { source, info: o.platform ? undefined : info };
}
