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
import { dockerfile, ROOTFS } from "./dockerfile.ts";
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

/**
 * The image flattened: FROM scratch, its root filesystem as one tar, its config as
 * instructions. With `base`, only its bottom layers, and no config: a base image to build on.
 */
export function flattenedContext(read: ReadImage, image: string, base?: { layers: number }): Source {
  const { source, open, torn } = read;
  const archive = base ? { ...read.archive, layers: read.archive.layers.slice(0, base.layers) } : read.archive;
  const plan = planFlatten(archive);
  if (!base) {
    // The second pass needs the plan only: the layers' path lists go before it starts.
    archive.index.clear();
    Bun.gc(true);
  }
  const head = dockerfileEntry(dockerfile(base ? undefined : archive.config, image));
  const rootHeader = fileEntryHeader(ROOTFS, plan.bytes);
  const size = head.reduce((n, b) => n + b.byteLength, 0) + rootHeader.byteLength + plan.bytes + END_OF_ARCHIVE;
  const { count, first } = archive.xattrs;
  const xattrs =
    count > 0
      ? `${count} entries carry extended attributes (file capabilities or security labels; ${first} first): they are passed on, but a builder may drop them`
      : undefined;
  async function* context(): AsyncGenerator<Uint8Array> {
    yield* head;
    yield rootHeader;
    try {
      yield* flattened(open, archive, plan, source.label);
    } catch (e) {
      throw torn(e);
    }
    yield new Uint8Array(END_OF_ARCHIVE);
  }
  return {
    kind: source.kind,
    label: `${source.label}, ${base ? `its bottom ${base.layers} layers ` : ""}flattened into a Dockerfile build context`,
    size,
    replayable: source.replayable,
    gzipped: false,
    flattened: true,
    note: [source.note, xattrs].filter(Boolean).join("; ") || undefined,
    open: () => rechunk(fromIterable(context()), GATHER),
  };
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
