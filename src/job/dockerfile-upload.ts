/**
 * --context dockerfile: the image as a build context. With --reuse auto on a server whose
 * registry can keep base images, only the layers above the highest base it has are sent,
 * a run at a time (segments), each run built as a base for the next upload; otherwise,
 * and wherever reuse cannot hold, the image flattened and sent whole.
 */
import { baseName, chainIds, cutsOf, wholeName } from "../context/base-images.ts";
import { flattenedContext, type ReadImage, readImage } from "../context/build-context.ts";
import { carriesTriggers } from "../context/dockerfile.ts";
import { archiveDocuments } from "../context/image-archive.ts";
import { type LayerBytes, type LayeredArchive, layeredContext, NotReusable } from "../context/layered-context.ts";
import { planSegments, type Segment } from "../context/segments.ts";
import { UploadError } from "../errors.ts";
import { abortable } from "../lib/streams.ts";
import { type Source, tornIn } from "../source/source.ts";
import { seekEntries } from "../tar/list.ts";
import { tarEntries } from "../tar/read.ts";
import { build } from "./build.ts";
import type { JobOptions, JobResult, LayerPlan, Reuse } from "./job.ts";
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
  // A reuse plan is several contexts, each FROM the one before: the file must build by itself.
  if (o.output) {
    o.onEvent({ type: "no-reuse", why: "--output writes one context that builds by itself (docker build - < FILE)" });
    return flattenedUpload(o, source, targetImage);
  }
  const reading = await readForReuse(o, image);
  let { read } = reading;
  const ready = reuseReady(o, prefix, reading.identity);
  if ("why" in ready) {
    o.onEvent({ type: "no-reuse", why: ready.why });
    return flattenedUpload(o, source, targetImage, read);
  }
  const { identity } = ready;
  const archive: LayeredArchive = { ...reading.archive, expected: { ...identity, triggers: reading.triggers } };
  // From here, a whole upload is also pushed by content, so an unchanged image costs only the questions next time.
  const whole = (why: string) => {
    o.onEvent({ type: "no-reuse", why });
    return flattenedUpload(o, source, targetImage, read, ready.prefix);
  };
  const found = await findBase(o, ready.prefix, identity, reading.triggers);
  const { platform } = reading;
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
    /** The plan, layer by layer: each layer's state and base, from its position. */
    const tell = (sizes: number[] | undefined, where: (pos: number) => [LayerPlan["state"], string | undefined]) =>
      o.onEvent({
        type: "layers",
        layers: identity.diffIds.map((diffId, position) => {
          const [state, base] = where(position);
          return { position, diffId, bytes: sizes?.[position], state, base };
        }),
      });
    if (found.kind === "whole") {
      tell(reading.sizes, () => ["on-server", found.name]);
      const done = reuse(n, found.name);
      o.onEvent({ type: "reuse", reuse: done, seeded: false, dryRun: o.dryRun });
      const built = await build(
        o,
        layeredContext(archive, { from: found.name, first: n, end: n, config: false, platform }, o.localImage),
        targetImage,
      );
      return { ...built, reuse: done };
    }
    /** What the server has: the bottom `layers` (none where it has no base), under `name`. */
    const held = found.kind === "base" ? { layers: found.layers, name: found.name } : { layers: 0, name: undefined };
    const alsoAs = found.whole ? [found.whole] : [];
    /** A segment's context on `on` (a base image; none for scratch). */
    const contextOf = (segment: Segment, on: string | undefined, config: boolean): Source & { layerBytes?: LayerBytes } => {
      const { first, end, how, removals, rm, mounted } = segment;
      if (how === "layers") return layeredContext(archive, { from: on as string, first, end, config, platform }, o.localImage);
      return flattenedContext(read as ReadImage, o.localImage, {
        first,
        end,
        config,
        on: on === undefined ? undefined : { from: on, removals, rm, mounted },
      });
    };
    /** Builds each segment but the last as a base named by content, each on the one before; then the image on the last. */
    const segments = async (plan: Segment[], sizes: number[] | undefined): Promise<JobResult> => {
      const bases = plan.map((p) => baseName(ready.prefix, chainIds(identity.diffIds)[p.end - 1] as string));
      tell(sizes, (pos) => {
        if (pos < held.layers) return ["on-server", held.name];
        const i = plan.findIndex((p) => pos >= p.first && pos < p.end);
        const segment = plan[i] as Segment;
        if (i < plan.length - 1) return ["new-base", bases[i]];
        return [segment.how === "layers" ? "sending" : "flattened", undefined];
      });
      let on = held.name;
      for (const [i, segment] of plan.slice(0, -1).entries()) {
        const { first, end } = segment;
        const name = bases[i] as string;
        const bytes = (below(end, sizes) ?? 0) - (below(first, sizes) ?? 0);
        o.onEvent({ type: "seeding", base: name, first, end, on, bytes, dryRun: o.dryRun });
        await build(o, contextOf(segment, on, false), name, { tags: [], base: true }).catch((e) => {
          // Built, then gone (a registry clean-up, a server that lost it): the image cannot be built on it.
          if (!(e instanceof UploadError && e.code === "NOT_CONFIRMED")) throw e;
          throw new UploadError("BUILD_FAILED", `the server built the base ${name}, then said it does not exist`, { cause: e });
        });
        on = name;
      }
      const top = plan.at(-1) as Segment;
      const planned = reuse(top.first, on as string);
      o.onEvent({ type: "reuse", reuse: planned, seeded: top.first !== held.layers, dryRun: o.dryRun });
      const context = contextOf(top, on, true);
      const built = await build(o, context, targetImage, { alsoAs });
      if (!context.layerBytes) return { ...built, reuse: planned };
      const measured: Reuse = { ...planned, bytesReused: context.layerBytes.reused, bytesSent: context.layerBytes.sent };
      o.onEvent({ type: "reuse-measured", reuse: measured });
      return { ...built, reuse: measured };
    };
    // The top layer alone on a base the server has: sent in the one pass that checks it, no layer below it read.
    if (held.layers === n - 1 && !read) {
      try {
        return await segments([{ first: n - 1, end: n, how: "layers", removals: [] }], reading.sizes);
      } catch (e) {
        // A layer that deletes or links down: planned again below, from every layer's paths.
        if (!(e instanceof NotReusable)) throw e;
      }
    }
    read ??= await fullRead(o, source);
    const own = read.archive.identity;
    if (own?.imageId !== identity.imageId || own.diffIds.join() !== identity.diffIds.join())
      throw new NotReusable(`${source.label} holds another image than the one planned for (its image ID differs)`);
    return await segments(planSegments(read.archive, held.layers, cutsOf(own.created, held.layers)), layerSizes(read));
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
  const kept = prefix && id && o.form === "openhands" && !carriesTriggers(image.archive.config);
  const alsoAs = kept ? [wholeName(prefix, id)] : [];
  return build(o, flattenedContext(image, o.localImage), targetImage, { alsoAs });
}

/** The first pass over every layer, which flattening needs. */
function fullRead(o: JobOptions, source: Source): Promise<ReadImage> {
  o.onEvent({ type: "flattening", source });
  return readImage(source, o.signal);
}

interface ReuseReading {
  identity: ImageIdentity | undefined;
  /** The image's os/arch[/variant], where known: each FROM names it. */
  platform: string | undefined;
  /** Whether its config holds ONBUILD triggers. */
  triggers: boolean;
  /** How the layers are read, once the plan (the identity it expects) is made. */
  archive: Omit<LayeredArchive, "expected">;
  /** Each layer's bytes, bottom first, where they are known before the layers are read. */
  sizes?: number[];
  /** The first pass, where one was needed to name the image. */
  read?: ReadImage;
}

/**
 * The image's identity, read as cheaply as its source allows: an engine whose image ID is
 * its config's digest tells it (no save); a tar file's documents are read by seeking past
 * its layers, and any other save's by streaming past them (Docker's containerd store, whose
 * ID names a manifest); anything else is read once whole, as flattening would.
 */
async function readForReuse(o: JobOptions, { source, info }: JobSource): Promise<ReuseReading> {
  const torn = tornIn(source);
  const { file, size } = source;
  const engine = source.kind === "engine" && info?.diffIds !== undefined;
  if (engine && info?.configId && new Set(info.diffIds).size === info.diffIds?.length) {
    // The engine says [sha256:]HEX; an archive's config hashes to HEX.
    const identity = { diffIds: info.diffIds as string[], imageId: info.configId.replace(/^sha256:/, "") };
    return {
      identity,
      platform: info.platform,
      triggers: info.onBuild === true,
      archive: { source, entries: () => tarEntries(source.open()), torn },
    };
  }
  const seekable = file !== undefined && size !== undefined && !source.gzipped;
  if (seekable || engine) {
    const entries = () => (seekable ? seekEntries(file, size) : tarEntries(abortable(source.open(), o.signal)));
    const docs = await archiveDocuments(entries()).catch((e) => {
      throw torn(e);
    });
    if (engine && docs.identity && docs.identity.diffIds.join() !== info?.diffIds?.join())
      throw new UploadError("DOCKER_SAVE", `${source.label} saved another image than the engine described (its layers differ)`, {
        hint: "run again: the image may have changed while it was read",
      });
    return {
      identity: docs.identity,
      platform: docs.platform,
      triggers: carriesTriggers(docs.config),
      sizes: docs.sizes,
      archive: { source, entries, torn, positions: docs.positions },
    };
  }
  const read = await fullRead(o, source);
  const positions = new Map(read.archive.layers.map((l, pos) => [l, pos]));
  return {
    identity: read.archive.identity,
    platform: read.archive.platform,
    triggers: carriesTriggers(read.archive.config),
    sizes: layerSizes(read),
    read,
    archive: { source, entries: () => tarEntries(read.open()), torn: read.torn, positions },
  };
}

function layerSizes(read: ReadImage): number[] {
  return read.archive.layers.map((l) => read.archive.layerBytes.get(l) ?? 0);
}
