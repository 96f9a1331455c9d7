/**
 * A Dockerfile build context that keeps the image's layers: FROM a base the server already
 * has, one ADD per layer above it (each the layer's blob as the archive holds it: a tar,
 * or a gzip'd tar, which ADD unpacks alike), then the config. The archive is read once:
 * layers at or below the base are passed over (a file's are never read), and the
 * Dockerfile goes last, once the archive's own manifest and config have said that what
 * was sent is what the plan meant. Anything else fails the pass before the context ends.
 */
import { UploadError } from "../errors.ts";
import { jsonObject } from "../lib/document.ts";
import { handoff } from "../lib/handoff.ts";
import { fromIterable, gunzip, rechunk } from "../lib/streams.ts";
import type { Source } from "../source/source.ts";
import { BLOCK, END_OF_ARCHIVE, padding } from "../tar/block.ts";
import type { SeekEntry } from "../tar/list.ts";
import { fileEntryHeader } from "../tar/write.ts";
import { dockerfileEntry, GATHER } from "./build-context.ts";
import { checkDiffId, hashedWhole } from "./diff-id.ts";
import { carriesTriggers, layeredDockerfile, layerFile, platformNote } from "./dockerfile.ts";
import { ArchiveDocuments, type ArchiveImage } from "./image-archive.ts";
import { LayerPositions } from "./layer-positions.ts";
import { blobKind, indexLayer, type LayerIndex, layerNotes, normalPath, OPAQUE, readHead, WHITEOUT } from "./layers.ts";

export interface Layering {
  /** What the Dockerfile builds on: a base image the server has. */
  from: string;
  /** The first layer position sent: those below it are the base's. */
  first: number;
  /** The last position sent, plus one. */
  end: number;
  /** Set the config (the image itself), or not (the whole image as the base, which has it). */
  config: boolean;
  /** The image's os/arch[/variant], named on the FROM line where known. */
  platform?: string;
}

/** The archive as the pass reads it. */
export interface LayeredArchive {
  source: Source;
  /** Its entries, each one's data read only where asked for. */
  entries: () => AsyncIterable<SeekEntry>;
  /** A torn archive in the source's words. */
  torn: (e: unknown) => unknown;
  /**
   * The image the plan was made for (its image ID as hex): the archive's manifest and config
   * must say the same; and whether its config holds ONBUILD triggers (a plan that would keep
   * the whole image to build on was made for one without).
   */
  expected: { diffIds: readonly string[]; imageId: string; triggers: boolean };
  /** Blob names a manifest has placed already; else they are told as they pass. */
  positions?: ReadonlyMap<string, number>;
}

/** Why the layers cannot be sent as planned: the job then sends the image whole. */
export class NotReusable extends UploadError {
  constructor(readonly why: string) {
    super("INPUT", `the image's layers cannot be sent on their own: ${why}`, { hint: "run again with --reuse never" });
  }
}

/** What the pass found the layers to weigh: those sent, and those the base has (known once the pass has ended). */
export interface LayerBytes {
  sent: number;
  reused: number;
}

export function layeredContext(archive: LayeredArchive, layering: Layering, image: string): Source & { layerBytes: LayerBytes } {
  const { source, expected } = archive;
  const layerBytes: LayerBytes = { sent: 0, reused: 0 };
  const sentPositions = Array.from({ length: layering.end - layering.first }, (_, i) => layering.first + i);
  /** Sent layers that hold no entry: this pass's. */
  const empty = new Set<number>();

  /** The archive, once: the layers above the base sent; then the image it holds, checked against the plan. */
  async function* layers(): AsyncGenerator<Uint8Array, ArchiveImage> {
    // A retried upload reads the archive again: the weights are this pass's.
    Object.assign(layerBytes, { sent: 0, reused: 0 });
    empty.clear();
    const positions = new LayerPositions(expected.diffIds, archive.positions);
    const docs = new ArchiveDocuments(positions.placesByJson());
    const sent = new Map<number, string>();
    const sizes = new Map<string, number>();
    for await (const e of archive.entries()) {
      const name = normalPath(e.path);
      if (!docs.regular(name, e)) continue;
      sizes.set(name, e.size);
      const pos = positions.of(name);
      if (pos !== undefined && pos >= layering.first && pos < layering.end && !sent.has(pos)) {
        yield* layer(e, pos);
        sent.set(pos, name);
        continue;
      }
      if (e.size === 0) continue;
      const head = await readHead(e, Math.min(BLOCK, e.size));
      if ((await docs.take(name, e, head)) && LayerPositions.isLayerJson(name)) {
        // A json that is not an object places nothing: the manifest then finds its layer unsent.
        const json = jsonObject(Buffer.from(docs.get(name) as Uint8Array).toString("utf8"));
        if (json && !positions.legacy(name, json))
          throw new NotReusable("placing docker save's layer folders by their v1 IDs would take more hashing than any image needs");
      }
    }
    const found = docs.image();
    if (found.identity?.imageId !== expected.imageId) {
      throw new NotReusable(`${source.label} holds another image than the one planned for (its image ID differs)`);
    }
    // podman's inspect does not tell them: the image must not be kept under a name to build FROM.
    if (carriesTriggers(found.config) && !expected.triggers)
      throw new NotReusable("the image's config holds ONBUILD triggers that the plan was not made for");
    for (const pos of sentPositions) {
      if (sent.get(pos) !== found.layers[pos])
        throw new NotReusable(`layer ${pos} was not found in ${source.label} where it was looked for`);
    }
    layerBytes.reused = found.layers.slice(0, layering.first).reduce((n, l) => n + (sizes.get(l) ?? 0), 0);
    return found;
  }

  /** One layer's blob, as an entry of the context, its paths indexed as it passes. */
  async function* layer(e: SeekEntry, pos: number): AsyncGenerator<Uint8Array> {
    const head = await readHead(e, Math.min(BLOCK, e.size));
    const kind = blobKind(head);
    if (kind !== "tar" && kind !== "gzip") throw new NotReusable(`layer ${pos} is ${kind === "zstd" ? "zstd-compressed" : "not a tar"}`);
    yield fileEntryHeader(layerFile(pos), e.size);
    const probe = handoff();
    const whole = hashedWhole(kind === "gzip" ? gunzip(probe.stream) : probe.stream);
    const indexing = (async () => ({ index: await indexLayer(whole.stream, layerNotes()), digest: await whole.digest }))().finally(() =>
      probe.stop(),
    );
    // Awaited below; a failure before then must not be reported as unhandled.
    indexing.catch(() => {});
    let got = 0;
    for (let piece: Uint8Array | undefined = head; piece; piece = await e.read()) {
      await Promise.race([probe.give(piece), indexing]);
      got += piece.byteLength;
      yield piece;
    }
    await Promise.race([probe.give(undefined), indexing]);
    const { index, digest } = await indexing;
    if (got !== e.size) throw new NotReusable(`layer ${pos} changed while it was read`);
    // Before the context can end: a layer that is not what its diff ID says is never built.
    // Bytes of another of the image's layers: the blob was placed wrong, which the manifest would have said.
    const id = `sha256:${digest}`;
    if (expected.diffIds[pos] !== id && expected.diffIds.includes(id))
      throw new NotReusable(`layer ${pos} was not found in ${source.label} where it was looked for`);
    checkDiffId(pos, expected.diffIds[pos] as string, digest);
    yield new Uint8Array(padding(e.size));
    layerBytes.sent += e.size;
    const why = unfaithful(index);
    if (why) throw new NotReusable(`layer ${pos} ${why}`);
    // A layer of nothing (a RUN that changed no file) is left out of the ADD lines: ADD copies a tar with no entry as a file.
    if (index.paths.length === 0) empty.add(pos);
  }

  async function* context(): AsyncGenerator<Uint8Array> {
    let config: Record<string, unknown> | undefined;
    // With every layer in the base, and its config too, there is nothing to read the archive for.
    if (sentPositions.length > 0 || layering.config) {
      try {
        config = (yield* layers()).config;
      } catch (e) {
        throw archive.torn(e);
      }
    }
    const added = sentPositions.filter((pos) => !empty.has(pos));
    yield* dockerfileEntry(layeredDockerfile(layering.from, added, layering.config ? config : undefined, image, layering.platform));
    yield new Uint8Array(END_OF_ARCHIVE);
  }

  return {
    kind: source.kind,
    label: `${source.label}, ${sentPositions.length ? `layers ${layering.first} to ${layering.end - 1}` : "no layer"} in a Dockerfile build context on ${layering.from}`,
    size: undefined,
    replayable: source.replayable,
    gzipped: false,
    flattened: true,
    notes: [...(source.notes ?? []), platformNote(layering.platform)].filter((n) => n !== undefined),
    open: () => rechunk(fromIterable(context()), GATHER),
    layerBytes,
  };
}

/**
 * What a builder would not carry faithfully from a layer's own tar. An entry that is no
 * file (a volume label) fails its ADD. A hard link to a file
 * of a lower layer comes out as a copy. Whiteouts and opaque markers are carried by the
 * classic builder and buildah but not by BuildKit (measured: test/reuse.e2e.test.ts), and
 * the tool cannot know which builder a server runs.
 */
export function unfaithful(layer: LayerIndex): string | undefined {
  // A volume label in an ADDed tar fails the classic builder's build ("unhandled tar header type").
  if (layer.leftOut) return `holds entries that are not files (${layer.leftOut} first), which a builder's ADD refuses`;
  const own = new Set(layer.paths);
  if ([...layer.links.values()].some((target) => !own.has(target)))
    return "holds a hard link to a file of a lower layer, which a builder would turn into a copy";
  if (layer.kinds.some((k) => k === WHITEOUT || k === OPAQUE))
    return "deletes files of lower layers, which not every builder carries into the image";
  return undefined;
}
