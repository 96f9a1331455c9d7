/**
 * --context dockerfile: the image as a build context. With --reuse auto on a server whose
 * registry can keep base images, only the layers above the highest base it has are sent
 * (where it has none, a base is built first, for this upload and the next); otherwise, and
 * wherever reuse cannot hold, the image flattened and sent whole.
 */
import { baseName, chainIds, splitOf, wholeName } from "../context/base-images.ts";
import { flattenedContext, type ReadImage, readImage } from "../context/build-context.ts";
import { archiveDocuments } from "../context/image-archive.ts";
import { type LayeredArchive, layeredContext, NotReusable, unfaithful } from "../context/layered-context.ts";
import { UploadError } from "../errors.ts";
import { type Source, tornIn } from "../source/source.ts";
import { seekEntries } from "../tar/list.ts";
import { tarEntries } from "../tar/read.ts";
import { build } from "./build.ts";
import type { JobOptions, JobResult, Reuse } from "./job.ts";
import type { JobSource } from "./job-source.ts";
import { findBase, type ImageIdentity, reuseReady } from "./reuse.ts";

export async function dockerfileUpload(
  o: JobOptions,
  image: JobSource,
  targetImage: string,
  prefix: string | undefined,
): Promise<JobResult> {
  const { source } = image;
  if (o.reuse === "never") return flattenedUpload(o, source, targetImage);
  const reading = await readForReuse(o, image);
  let { read } = reading;
  const ready = reuseReady(o, prefix, reading.identity);
  if ("why" in ready) {
    o.onEvent({ type: "no-reuse", why: ready.why });
    return flattenedUpload(o, source, targetImage, read);
  }
  const { identity } = ready;
  const archive: LayeredArchive = { ...reading.archive, expected: identity };
  // From here, a whole upload is also pushed by content, so an unchanged image costs only the questions next time.
  const whole = (why: string) => {
    o.onEvent({ type: "no-reuse", why });
    return flattenedUpload(o, source, targetImage, read, ready.prefix);
  };
  const found = await findBase(o, ready.prefix, identity);
  if (found.kind === "off") return whole(found.why);
  const n = identity.diffIds.length;
  const below = (k: number, sizes = reading.sizes) => sizes?.slice(0, k).reduce((a, b) => a + b, 0);
  const reuse = (k: number, base: string): Reuse => {
    const reused = below(k) ?? (k === n ? image.info?.size : undefined);
    const all = below(n);
    return {
      total: n,
      reused: k,
      bytesReused: reused,
      bytesSent: all === undefined || reused === undefined ? undefined : all - reused,
      base,
    };
  };
  try {
    if (found.kind === "whole") {
      const done = reuse(n, found.name);
      o.onEvent({ type: "reuse", reuse: done, seeded: false, dryRun: o.dryRun });
      const built = await build(
        o,
        layeredContext(archive, { from: found.name, first: n, end: n, config: false }, o.localImage),
        targetImage,
      );
      return { ...built, reuse: done };
    }
    // No base yet: the bottom layers are built into one first (flattened: right on any builder), for this upload and the next.
    const seed = async () => {
      read ??= await fullRead(o, source);
      const split = splitOf(read.archive.identity?.created ?? []);
      const why = unfaithfulFrom(read, split);
      if (why) throw new NotReusable(why);
      const name = baseName(ready.prefix, chainIds(identity.diffIds)[split - 1] as string);
      o.onEvent({ type: "seeding", base: name, layers: split, bytes: below(split, layerSizes(read)) ?? 0, dryRun: o.dryRun });
      await build(o, flattenedContext(read, o.localImage, { layers: split }), name, { tags: [] });
      return { first: split, base: name };
    };
    const { first, base } = found.kind === "base" ? { first: found.layers, base: found.name } : await seed();
    o.onEvent({ type: "reuse", reuse: reuse(first, base), seeded: found.kind !== "base", dryRun: o.dryRun });
    const context = layeredContext(archive, { from: base, first, end: n, config: true }, o.localImage);
    const built = await build(o, context, targetImage, { alsoAs: found.whole ? [found.whole] : [] });
    const measured: Reuse = { ...reuse(first, base), bytesReused: context.layerBytes.reused, bytesSent: context.layerBytes.sent };
    o.onEvent({ type: "reuse-measured", reuse: measured });
    return { ...built, reuse: measured };
  } catch (e) {
    if (e instanceof NotReusable) return whole(e.why);
    // A base that broke its build, or vanished between the question and the build.
    if (!(e instanceof UploadError && e.code === "BUILD_FAILED")) throw e;
    o.onEvent({ type: "reuse-failed", why: e.message });
    return flattenedUpload(o, source, targetImage, read, ready.prefix);
  }
}

/**
 * The image flattened, sent whole: from a first pass already made, or one made now. With a
 * registry prefix and the [OH] form it is also pushed as the whole image by its image ID,
 * the ID of the very bytes the passes read and checked against their diff IDs.
 */
async function flattenedUpload(o: JobOptions, source: Source, targetImage: string, read?: ReadImage, prefix?: string): Promise<JobResult> {
  const image = read ?? (await fullRead(o, source));
  const id = image.archive.identity?.imageId;
  const alsoAs = prefix && id && o.form === "openhands" ? [wholeName(prefix, id)] : [];
  return build(o, flattenedContext(image, o.localImage), targetImage, { alsoAs });
}

/** The first pass over every layer, which flattening needs. */
function fullRead(o: JobOptions, source: Source): Promise<ReadImage> {
  o.onEvent({ type: "flattening", source });
  return readImage(source, o.signal);
}

interface ReuseReading {
  identity: ImageIdentity | undefined;
  /** How the layers are read, once the plan (the identity it expects) is made. */
  archive: Omit<LayeredArchive, "expected">;
  /** Each layer's bytes, bottom first, where they are known before the layers are read. */
  sizes?: number[];
  /** The first pass, where one was needed to name the image. */
  read?: ReadImage;
}

/**
 * The image's identity, read as cheaply as its source allows: the engine tells it (no save);
 * a tar file's documents are read by seeking past its layers; anything else is read once
 * whole, as flattening would.
 */
async function readForReuse(o: JobOptions, { source, info }: JobSource): Promise<ReuseReading> {
  const torn = tornIn(source);
  const { file, size } = source;
  if (source.kind === "engine" && info?.id && info.diffIds && new Set(info.diffIds).size === info.diffIds.length) {
    // The engine says sha256:HEX; an archive's config hashes to HEX.
    const identity = { diffIds: info.diffIds, imageId: info.id.replace(/^sha256:/, "") };
    return { identity, archive: { source, entries: () => tarEntries(source.open()), torn } };
  }
  if (file && size !== undefined && !source.gzipped) {
    const docs = await archiveDocuments(seekEntries(file, size)).catch((e) => {
      throw torn(e);
    });
    return {
      identity: docs.identity,
      sizes: docs.sizes,
      archive: { source, entries: () => seekEntries(file, size), torn, positions: docs.positions },
    };
  }
  const read = await fullRead(o, source);
  const positions = new Map(read.archive.layers.map((l, pos) => [l, pos]));
  return {
    identity: read.archive.identity,
    sizes: layerSizes(read),
    read,
    archive: { source, entries: () => tarEntries(read.open()), torn: read.torn, positions },
  };
}

function layerSizes(read: ReadImage): number[] {
  return read.archive.layers.map((l) => read.archive.layerBytes.get(l) ?? 0);
}

/** The first layer from `first` up that a builder would not carry faithfully, and why. */
function unfaithfulFrom(read: ReadImage, first: number): string | undefined {
  const { archive } = read;
  for (let pos = first; pos < archive.layers.length; pos++) {
    const layer = archive.index.get(archive.layers[pos] as string);
    const why = layer && unfaithful(layer);
    if (why) return `layer ${pos} ${why}`;
  }
  return undefined;
}
