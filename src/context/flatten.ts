/**
 * An image's layers flattened into the one root filesystem a container would see: which
 * layer each path comes from (planned from the first pass), then each surviving entry
 * written once, as a tar, while the archive is read a second time. Memory grows with the
 * number of paths, never with their size.
 */
import { UploadError } from "../errors.ts";
import { mib } from "../lib/units.ts";
import { BLOCK, END_OF_ARCHIVE, padding } from "../tar/block.ts";
import { tarEntries } from "../tar/read.ts";
import { tarHeader } from "../tar/write.ts";
import { checkDiffId, hashedWhole } from "./diff-id.ts";
import type { ImageArchive } from "./image-archive.ts";
import {
  blobKind,
  carried,
  emitted,
  FILE,
  type LayerIndex,
  LINK,
  layerEntries,
  layerTar,
  linkOf,
  normalPath,
  OPAQUE,
  OTHER,
  readHead,
  WHITEOUT,
} from "./layers.ts";
import { PathTree } from "./path-tree.ts";

/**
 * How much more a flattened root filesystem may weigh than the layers it comes from: only a
 * sparse file's holes make it more (every other byte is in a layer), and a few KB of layer
 * can claim a petabyte of holes. Go's own corpus holds a 60 GB sparse file: that one fits.
 */
const HOLES = 64 * 1024 ** 3;

/** Files up to this size go out with their header in one chunk. */
const SMALL = 64 * 1024;

export interface Plan {
  /** Each surviving path → the layer position it comes from. */
  keep: Map<string, number>;
  /** "position\0target" → the hard link that carries the target's data (the target itself was replaced above). */
  renames: Map<string, string>;
  /** "position\0path" → how many earlier entries of that path the layer holds: they are skipped. */
  repeats: Map<string, number>;
  entries: number;
  /** An upper bound of the flattened tar's size, end-of-archive included. */
  bytes: number;
}

function changed(what: string): UploadError {
  return new UploadError("INPUT", `${what} changed between the two reads that flatten it`, {
    hint: "make sure nothing rewrites or re-tags the image while it is uploaded, then run again",
  });
}

/**
 * Which layer each surviving path comes from, top layer first: a whiteout hides the path
 * and all under it below, an opaque folder hides what lower layers put in it, and a file
 * hides whatever a lower layer had under that name. Hard links whose target was replaced
 * above keep the data they had: the first of them takes it, the rest link to it.
 */
export function planFlatten(archive: ImageArchive): Plan {
  const hiders = new PathTree();
  const keep = new Map<string, number>();
  const renames = new Map<string, string>();
  const repeats = new Map<string, number>();
  let entries = 0;
  let bytes = END_OF_ARCHIVE;
  for (let pos = archive.layers.length - 1; pos >= 0; pos--) {
    const layer = archive.index.get(archive.layers[pos] as string) as LayerIndex;
    const { paths, kinds, sizes } = layer;
    // Where in this layer each path kept from it was last seen: a repeat replaces that entry.
    const keptAt = new Map<string, number>();
    for (let i = 0; i < paths.length; i++) {
      const p = paths[i] as string;
      if (kinds[i] === WHITEOUT || kinds[i] === OPAQUE) continue;
      const earlier = keptAt.get(p);
      if (earlier !== undefined) {
        // The same path twice in one layer (tar append): the later entry wins, as on unpacking.
        const key = `${pos}\0${p}`;
        repeats.set(key, (repeats.get(key) ?? 0) + 1);
        bytes += (sizes[i] as number) - (sizes[earlier] as number);
        keptAt.set(p, i);
        continue;
      }
      if (keep.has(p) || hiders.hides(p)) continue;
      keptAt.set(p, i);
      keep.set(p, pos);
      entries++;
      bytes += sizes[i] as number;
    }
    let files: Map<string, number> | undefined;
    for (const [i, target] of layer.links) {
      const p = paths[i] as string;
      if (keep.get(p) !== pos || keep.get(target) === pos) continue;
      files ??= new Map(paths.flatMap((q, j) => (kinds[j] === FILE ? [[q, j] as [string, number]] : [])));
      const t = files.get(target);
      if (t === undefined) continue;
      const key = `${pos}\0${target}`;
      // Renamed headers may need pax records the sized ones did not: room for one more.
      const slack = 2 * BLOCK + p.length + padding(p.length);
      if (!renames.has(key)) {
        renames.set(key, p);
        bytes += (sizes[t] as number) - (sizes[i] as number) + slack;
      } else bytes += slack;
    }
    // The bottom layer hides nothing: most of an image's paths need not be remembered twice.
    for (let i = 0; pos > 0 && i < paths.length; i++) {
      const k = kinds[i];
      if (k === WHITEOUT || k === FILE || k === OTHER || k === LINK) hiders.block(paths[i] as string);
      else if (k === OPAQUE) hiders.makeOpaque(paths[i] as string);
    }
  }
  const held = archive.layers.reduce((n, l) => n + (archive.layerBytes.get(l) ?? 0), 0);
  if (bytes - held > HOLES) {
    throw new UploadError(
      "INPUT",
      `the image's sparse files would flatten to ${(bytes / 1024 ** 3).toFixed(1)} GiB from ${mib(held)} of layers, past the ${HOLES / 1024 ** 3} GiB of holes a flattening expands`,
      {
        hint: "send the image as it is (--context image), or leave the sparse file out of the image (useradd -l keeps /var/log/lastlog small)",
      },
    );
  }
  return { keep, renames, repeats, entries, bytes };
}

/** An earlier entry of a path its layer writes again: the count of those still to skip goes down. */
function superseded(repeats: Map<string, number>, key: string, keptHere: boolean): boolean {
  const left = keptHere ? repeats.get(key) : undefined;
  if (!left) return false;
  repeats.set(key, left - 1);
  return true;
}

/**
 * The second pass: the flattened root filesystem as a tar of exactly `plan.bytes` bytes
 * (what the plan sized, then zeros), so it can sit in an outer tar whose header came first.
 */
export async function* flattened(
  open: () => ReadableStream<Uint8Array>,
  archive: ImageArchive,
  plan: Plan,
  what: string,
  /** The position in the image of the archive's first layer: a run of the image's layers may be flattened alone. */
  offset = 0,
): AsyncGenerator<Uint8Array> {
  // Each layer is in the list once (image-archive keeps its topmost place).
  const positions = new Map(archive.layers.map((l, pos) => [l, pos]));
  // Counted down as the earlier entries pass: each read of the archive starts afresh.
  const repeats = new Map(plan.repeats);
  let written = 0;
  let count = 0;
  const put = (bytes: Uint8Array) => {
    written += bytes.byteLength;
    if (written > plan.bytes - END_OF_ARCHIVE) throw changed(what);
    return bytes;
  };
  for await (const outer of tarEntries(open())) {
    const at = positions.get(normalPath(outer.path));
    if (at === undefined || outer.type !== "0") continue;
    const first = await readHead(outer, Math.min(BLOCK, outer.size));
    const whole = hashedWhole(layerTar(outer, first, blobKind(first)));
    for await (const e of layerEntries(whole.stream)) {
      const path = normalPath(e.path);
      if (!path || !carried(e)) continue;
      const rename = (target: string) => plan.renames.get(`${at}\0${target}`);
      const keptHere = plan.keep.get(path) === at;
      let link = linkOf(e);
      let as: string | undefined = keptHere ? path : e.type === "0" ? rename(path) : undefined;
      if (e.type === "1" && keptHere) {
        const carrier = rename(link);
        // The first link to a replaced target was written in its place, with its data.
        if (carrier === path) as = undefined;
        else if (carrier) link = carrier;
      }
      if (as === undefined || (repeats.size > 0 && superseded(repeats, `${plan.keep.get(path)}\0${path}`, keptHere))) continue;
      const header = emitted(e, as, link);
      const headerBytes = tarHeader(header);
      // Only a file's data is written: what a folder or link carries (GNU's dump folder listing) is not the file system's.
      const read = header.size > 0 ? () => e.read() : async () => undefined;
      const pad = padding(header.size);
      if (header.size <= SMALL) {
        // Header, data and padding as one chunk: most files of an image are small.
        const whole = new Uint8Array(headerBytes.byteLength + header.size + pad);
        whole.set(headerBytes);
        let offset = headerBytes.byteLength;
        for (let c = await read(); c; c = await read()) {
          whole.set(c, offset);
          offset += c.byteLength;
        }
        yield put(whole);
      } else {
        yield put(headerBytes);
        for (let c = await read(); c; c = await read()) yield put(c);
        if (pad > 0) yield put(new Uint8Array(pad));
      }
      count++;
    }
    // The pass that sends the bytes checks them (the first pass, which only plans, does not: one hash a byte).
    const diffId = archive.identity?.diffIds[offset + at];
    if (diffId) checkDiffId(offset + at, diffId, await whole.digest);
  }
  if (count !== plan.entries) throw changed(what);
  for (let left = plan.bytes - written; left > 0; left -= 1024 * 1024) yield new Uint8Array(Math.min(left, 1024 * 1024));
}
