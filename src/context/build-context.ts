/**
 * --context dockerfile: the image as a build context any builder can run. A Dockerfile
 * (FROM scratch, ADD the root filesystem, the config as instructions) and the flattened
 * root filesystem as one tar, written while the image's archive is read a second time.
 */

import { UploadError } from "../errors.ts";
import { fromIterable, gunzip, rechunk } from "../lib/streams.ts";
import { type Source, tornIn } from "../source/source.ts";
import { END_OF_ARCHIVE, padding } from "../tar/block.ts";
import { fileEntryHeader } from "../tar/write.ts";
import { dockerfile, type FlattenedOn, platformNote, ROOTFS } from "./dockerfile.ts";
import { flattened, planFlatten } from "./flatten.ts";
import { type ImageArchive, indexArchive } from "./image-archive.ts";

/** Each stream chunk costs more than copying a few KiB: small entries travel together. */
export const GATHER = 256 * 1024;

/** A context's Dockerfile as its tar entry: header, text, padding. */
export function dockerfileEntry(dockerfileText: string): Uint8Array[] {
  const text = Buffer.from(dockerfileText);
  return [fileEntryHeader("Dockerfile", text.byteLength), text, new Uint8Array(padding(text.byteLength))];
}

/** An image whose archive was read once (the first pass): what a context is made from in the second. */
export interface ReadImage {
  source: Source;
  archive: ImageArchive;
  /** The archive's tar, afresh: the second pass. */
  open: () => ReadableStream<Uint8Array>;
  /** A torn archive in the source's words. */
  torn: (e: unknown) => unknown;
}

/** The first pass over the image's archive: its layers, their paths and its config. */
export async function readImage(source: Source, signal: AbortSignal): Promise<ReadImage> {
  if (source.kind === "stdin") {
    throw new UploadError("INPUT", "--context dockerfile cannot flatten standard input: it reads the image twice", {
      hint: "save the image to a file (docker save -o image.tar IMAGE) and pass --input image.tar",
    });
  }
  const open = () => (source.gzipped ? gunzip(source.open()) : source.open());
  const torn = tornIn(source);
  const archive = await indexArchive(open, signal).catch((e) => {
    throw torn(e);
  });
  return { source, archive, open, torn };
}

/** A run of the image's layers, first..end-1, flattened on `on` (else on scratch); with the config where it ends the image. */
export interface FlattenedPart {
  first: number;
  end: number;
  on?: FlattenedOn;
  config: boolean;
}

/**
 * The image flattened: FROM scratch, its root filesystem as one tar, its config as
 * instructions. With `part`, a run of its layers only: a base image to build on (no
 * config), or the image's top layers on a base (deleting first what they delete from it).
 */
export function flattenedContext(read: ReadImage, image: string, part?: FlattenedPart): Source {
  const { source, open, torn } = read;
  const first = part?.first ?? 0;
  const archive = part ? { ...read.archive, layers: read.archive.layers.slice(first, part.end) } : read.archive;
  const plan = planFlatten(archive);
  if (!part) {
    // The second pass needs the plan only: the layers' path lists go before it starts.
    archive.index.clear();
    Bun.gc(true);
  }
  const head = dockerfileEntry(dockerfile(part && !part.config ? undefined : archive.config, image, archive.platform, part?.on));
  const rootHeader = fileEntryHeader(ROOTFS, plan.bytes);
  const size = head.reduce((n, b) => n + b.byteLength, 0) + rootHeader.byteLength + plan.bytes + END_OF_ARCHIVE;
  const { xattrs: x, leftOut } = archive.notes;
  const xattrs =
    x.count > 0
      ? `${x.count} entries carry extended attributes (file capabilities or security labels; ${x.first} first): they are passed on, but a builder may drop them`
      : undefined;
  const notFiles =
    leftOut.count > 0
      ? `${leftOut.count} entries are not files (${leftOut.first} first: a volume label or the like, which no builder unpacks): they are left out`
      : undefined;
  async function* context(): AsyncGenerator<Uint8Array> {
    yield* head;
    yield rootHeader;
    try {
      yield* flattened(open, archive, plan, source.label, first);
    } catch (e) {
      throw torn(e);
    }
    yield new Uint8Array(END_OF_ARCHIVE);
  }
  const which = !part ? "" : first === 0 ? `its bottom ${part.end} layers ` : `its layers ${first} to ${part.end - 1} `;
  return {
    kind: source.kind,
    label: `${source.label}, ${which}flattened into a Dockerfile build context${part?.on ? ` on ${part.on.from}` : ""}`,
    size,
    replayable: source.replayable,
    gzipped: false,
    flattened: true,
    notes: [...(source.notes ?? []), platformNote(archive.platform), mountedNote(part?.on?.mounted), xattrs, notFiles].filter(
      (n) => n !== undefined,
    ),
    open: () => rechunk(fromIterable(context()), GATHER),
  };
}

function mountedNote(mounted: readonly string[] | undefined): string | undefined {
  if (!mounted?.length) return undefined;
  return `the layers delete ${mounted.join(", ")}, which are left as the base has them: every builder and container runtime mounts its own there, so what an image holds is never seen`;
}

/**
 * A server that wanted the other kind of context says so in its own words (a missing
 * Dockerfile, a missing manifest.json): the hint then names the flag that fixes it.
 */
export function wrongContext(e: unknown, flattened: boolean): unknown {
  if (!(e instanceof UploadError) || (e.code !== "HTTP" && e.code !== "BUILD_FAILED")) return e;
  const other = flattened ? /manifest\.json|index\.json|image archive|docker load/i : /dockerfile/i;
  if (!other.test(e.message)) return e;
  const hint = flattened
    ? "this server loads image archives: run again with --context image (README: Which context does my server want?)"
    : "this server builds from a Dockerfile context: run again with --context dockerfile (README: Which context does my server want?)";
  return new UploadError(e.code, e.message, { hint, status: e.status, cause: e });
}
