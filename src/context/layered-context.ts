/**
 * A Dockerfile build context that keeps the image's layers: FROM a base the server already
 * has (or scratch), one ADD per layer above it, each the layer's own tar (uncompressed, up
 * to its end-of-archive marker: whiteouts and opaque markers in it, as builders carry
 * them), then the config. Layers at or below the base are read past, never sent.
 */
import { UploadError } from "../errors.ts";
import { fromIterable, rechunk } from "../lib/streams.ts";
import type { Source } from "../source/source.ts";
import { BLOCK, END_OF_ARCHIVE, padding } from "../tar/block.ts";
import { tarEntries } from "../tar/read.ts";
import { fileEntryHeader } from "../tar/write.ts";
import { dockerfileEntry, GATHER, type ReadImage } from "./build-context.ts";
import { layeredDockerfile, layerFile } from "./dockerfile.ts";
import { blobKind, layerTar, normalPath, readHead } from "./layers.ts";

export interface Layering {
  /** What the Dockerfile builds on: a base image the server has, or "scratch". */
  from: string;
  /** The first layer position sent: those below it are the base's. */
  first: number;
  /** The last position sent, plus one. */
  end: number;
  /** Set the config (the image itself), or not (a base, which carries none). */
  config: boolean;
}

function changed(what: string): UploadError {
  return new UploadError("INPUT", `${what} changed between the two reads that send its layers`, {
    hint: "make sure nothing rewrites or re-tags the image while it is uploaded, then run again",
  });
}

export function layeredContext({ source, archive, open, torn }: ReadImage, layering: Layering, image: string): Source {
  const positions = new Map(archive.layers.map((l, pos) => [l, pos]));
  const sent = archive.layers.slice(layering.first, layering.end);
  const bytes = (l: string) => archive.layerBytes.get(l) ?? 0;
  const head = dockerfileEntry(
    layeredDockerfile(
      layering.from,
      sent.map((l) => positions.get(l) as number),
      layering.config ? archive.config : undefined,
      image,
    ),
  );
  const size =
    head.reduce((n, b) => n + b.byteLength, 0) +
    sent.reduce((n, l) => n + fileEntryHeader(layerFile(0), bytes(l)).byteLength + bytes(l) + padding(bytes(l)), 0) +
    END_OF_ARCHIVE;

  async function* layers(): AsyncGenerator<Uint8Array> {
    let count = 0;
    for await (const outer of tarEntries(open())) {
      const pos = positions.get(normalPath(outer.path));
      if (pos === undefined || pos < layering.first || pos >= layering.end || outer.type !== "0") continue;
      const want = bytes(archive.layers[pos] as string);
      yield fileEntryHeader(layerFile(pos), want);
      const first = await readHead(outer, Math.min(BLOCK, outer.size));
      const reader = layerTar(outer, first, blobKind(first)).getReader();
      let left = want;
      try {
        while (left > 0) {
          const r = await reader.read();
          if (r.done) throw changed(source.label);
          const piece = r.value.byteLength > left ? r.value.subarray(0, left) : r.value;
          left -= piece.byteLength;
          yield piece;
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
      yield new Uint8Array(padding(want));
      count++;
    }
    if (count !== sent.length) throw changed(source.label);
  }

  async function* context(): AsyncGenerator<Uint8Array> {
    yield* head;
    try {
      // With every layer in the base there is nothing to read the archive for.
      if (sent.length > 0) yield* layers();
    } catch (e) {
      throw torn(e);
    }
    yield new Uint8Array(END_OF_ARCHIVE);
  }

  return {
    kind: source.kind,
    label: `${source.label}, ${sent.length ? `layers ${layering.first} to ${layering.end - 1}` : "no layer"} in a Dockerfile build context on ${layering.from}`,
    size,
    replayable: source.replayable,
    gzipped: false,
    flattened: true,
    note: source.note,
    open: () => rechunk(fromIterable(context()), GATHER),
  };
}
