/**
 * What one layer of an image holds, as the flattener needs it: each path, what it is
 * (whiteouts and opaque markers included) and the bytes it will take when written again.
 */
import { posix } from "node:path";
import { gunzip } from "../lib/streams.ts";
import { BLOCK, isZero, padding } from "../tar/block.ts";
import { entryStream, type TarEntry, type TarHeader, tarEntries } from "../tar/read.ts";
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
}

/** Entries carrying extended attributes (file capabilities, SELinux labels), for the note. */
export interface Xattrs {
  count: number;
  first?: string;
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
export async function indexLayer(input: ReadableStream<Uint8Array>, xattrs: Xattrs, onEnd?: (bytes: number) => void): Promise<LayerIndex> {
  const layer: LayerIndex = { paths: [], kinds: [], sizes: [], links: new Map() };
  for await (const e of tarEntries(input, onEnd)) {
    const path = normalPath(e.path);
    if (!path) continue;
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
      xattrs.count++;
      xattrs.first ??= path;
    }
    layer.sizes.push(headerLength(emitted(e, path, linkOf(e))) + (kind === FILE ? e.size + padding(e.size) : 0));
  }
  return layer;
}
