/**
 * What one layer of an image holds, as the flattener needs it: each path, what it is
 * (whiteouts and opaque markers included) and the bytes it will take when written again.
 */
import { posix } from "node:path";
import { gunzip } from "../lib/streams.ts";
import { BLOCK, isZero, padding } from "../tar/block.ts";
import type { TarHeader } from "../tar/header.ts";
import { entryStream, type TarEntry, tarEntries } from "../tar/read.ts";
import { type Format, sniff } from "../tar/sniff.ts";
import { headerLength } from "../tar/write.ts";

export const DIR = 0;
export const FILE = 1;
export const OTHER = 2;
export const LINK = 3;
export const WHITEOUT = 4;
export const OPAQUE = 5;

/** One layer's paths, in archive order, and what each is. */
export interface LayerIndex {
  paths: string[];
  kinds: number[];
  /** Bytes the entry takes in the flattened tar: header, data, padding. */
  sizes: number[];
  /** Hard link entries: their index → the path they link to. */
  links: Map<number, string>;
  /** The first entry that is not a file (a volume label), where the layer holds one: left out of its paths. */
  leftOut?: string;
}

/** Entries of one sort, counted for a note said once: how many, and the first one's path. */
interface Tally {
  count: number;
  first?: string;
}

/**
 * What is said once of an image's layers: entries carrying extended attributes (file
 * capabilities, SELinux labels), and entries that are not files (a GNU volume label, a
 * multi-volume continuation), which no builder unpacks and so are left out.
 */
export interface LayerNotes {
  xattrs: Tally;
  leftOut: Tally;
}

export function layerNotes(): LayerNotes {
  return { xattrs: { count: 0 }, leftOut: { count: 0 } };
}

/** What a root filesystem can hold: files, links, devices, folders, FIFOs. Anything else is left out. */
export function carried(e: TarHeader): boolean {
  return e.type.length === 1 && "0123456".includes(e.type);
}

/** A layer's own tar read as docker load reads it: its bytes are checked against its diff ID, so its end-of-archive marker may be missing. */
export function layerEntries(input: ReadableStream<Uint8Array>, onEnd?: (bytes: number) => void): AsyncGenerator<TarEntry> {
  return tarEntries(input, { onEnd, markerOptional: true });
}

/** "./a/b/" → "a/b"; the root → "". */
export function normalPath(path: string): string {
  return posix.normalize(`/${path}`).replace(/^\/+|\/+$/g, "");
}

/** The fields a flattened entry is written with: the same in the pass that sizes it and the one that writes it. */
export function emitted(e: TarHeader, path: string, linkpath: string): TarHeader {
  return { ...e, path: e.type === "5" ? `${path}/` : path, linkpath, size: e.type === "0" ? e.size : 0 };
}

export function linkOf(e: TarHeader): string {
  return e.type === "1" ? normalPath(e.linkpath) : e.linkpath;
}

function kindOf(e: TarHeader, base: string): number {
  if (base === ".wh..wh..opq") return OPAQUE;
  if (base.startsWith(".wh.")) return WHITEOUT;
  return e.type === "5" ? DIR : e.type === "0" ? FILE : e.type === "1" ? LINK : OTHER;
}

export async function readHead(e: Pick<TarEntry, "read">, n: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let got = 0;
  while (got < n) {
    const c = await e.read(n - got);
    if (!c) break;
    parts.push(c);
    got += c.byteLength;
  }
  return parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
}

/** What a blob of an image archive is; a layer's tar may be empty (its end-of-archive blocks alone). */
export function blobKind(h: Uint8Array): Format {
  const kind = sniff(h);
  return kind === "unknown" && h.byteLength === BLOCK && isZero(h) ? "tar" : kind;
}

/** A layer blob's tar: inflated first where it is gzip. */
export function layerTar(e: TarEntry, first: Uint8Array, kind: Format): ReadableStream<Uint8Array> {
  const raw = entryStream(e, first);
  return kind === "gzip" ? gunzip(raw) : raw;
}

/** `onEnd` learns the layer tar's length up to its end-of-archive marker: what is sent of it as a layer of its own. */
export async function indexLayer(
  input: ReadableStream<Uint8Array>,
  notes: LayerNotes,
  onEnd?: (bytes: number) => void,
): Promise<LayerIndex> {
  const layer: LayerIndex = { paths: [], kinds: [], sizes: [], links: new Map() };
  for await (const e of layerEntries(input, onEnd)) {
    const path = normalPath(e.path);
    if (!path) continue;
    if (!carried(e)) {
      layer.leftOut ??= `${path} (type ${JSON.stringify(e.type)})`;
      notes.leftOut.count++;
      notes.leftOut.first ??= layer.leftOut;
      continue;
    }
    const base = posix.basename(path);
    if (base.startsWith(".wh..wh.") && base !== ".wh..wh..opq") continue;
    const kind = kindOf(e, base);
    const dir = posix.dirname(path);
    const at = layer.paths.length;
    layer.kinds.push(kind);
    if (kind === OPAQUE || kind === WHITEOUT) {
      layer.paths.push(kind === OPAQUE ? normalPath(dir) : normalPath(`${dir}/${base.slice(4)}`));
      layer.sizes.push(0);
      continue;
    }
    layer.paths.push(path);
    if (kind === LINK) layer.links.set(at, linkOf(e));
    if (e.xattrs.length > 0) {
      notes.xattrs.count++;
      notes.xattrs.first ??= path;
    }
    layer.sizes.push(headerLength(emitted(e, path, linkOf(e))) + (kind === FILE ? e.size + padding(e.size) : 0));
  }
  return layer;
}
