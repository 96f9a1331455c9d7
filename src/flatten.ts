/**
 * An image's layers flattened into the one root filesystem a container would see, in two
 * passes over its archive (docker save or OCI layout, read as a tar stream each time):
 * the first notes every layer's paths and the config, the second writes each surviving
 * entry once, as a tar. Memory grows with the number of paths, never with their size.
 */
import { posix } from "node:path";
import { UploadError } from "./errors.ts";
import { blobPath, imageManifests, platformText } from "./oci.ts";
import { abortable, gunzip } from "./streams.ts";
import { TornArchive } from "./tar.ts";
import { entryStream, type TarEntry, type TarHeader, tarEntries } from "./tar-read.ts";
import { headerLength, padding, tarHeader } from "./tar-write.ts";

const DIR = 0;
const FILE = 1;
const OTHER = 2;
const LINK = 3;
const WHITEOUT = 4;
const OPAQUE = 5;

/** Files up to this size go out with their header in one chunk. */
const SMALL = 64 * 1024;

/** JSON documents (manifests, configs) are small: anything larger is not one we need. */
const DOC_CAP = 8 * 1024 * 1024;

/** One layer's paths, in archive order, and what each is. */
interface LayerIndex {
  paths: string[];
  kinds: number[];
  /** Bytes the entry takes in the flattened tar: header, data, padding. */
  sizes: number[];
  /** Hard link entries: their index → the path they link to. */
  links: Map<number, string>;
}

export interface ImageArchive {
  /** Layer blob names in the archive, bottom to top (a name may repeat). */
  layers: string[];
  index: Map<string, LayerIndex>;
  /** The image config's "config" object: Env, Cmd, Entrypoint, … */
  config: Record<string, unknown>;
  /** Entries carrying extended attributes (file capabilities, SELinux labels), for the note. */
  xattrs: { count: number; first?: string };
}

export interface Plan {
  /** Each surviving path → the layer position it comes from. */
  keep: Map<string, number>;
  /** "position\0target" → the hard link that carries the target's data (the target itself was replaced above). */
  renames: Map<string, string>;
  entries: number;
  /** An upper bound of the flattened tar's size, end-of-archive included. */
  bytes: number;
}

/** "./a/b/" → "a/b"; the root → "". */
export function clean(path: string): string {
  return posix.normalize(`/${path}`).replace(/^\/+|\/+$/g, "");
}

/** The fields a flattened entry is written with: the same in the pass that sizes it and the one that writes it. */
function emitted(e: TarHeader, path: string, linkpath: string): TarHeader {
  return { ...e, path: e.type === "5" ? `${path}/` : path, linkpath, size: e.type === "0" ? e.size : 0 };
}

function linkOf(e: TarHeader): string {
  return e.type === "1" ? clean(e.linkpath) : e.linkpath;
}

function kindOf(e: TarHeader, base: string): number {
  if (base === ".wh..wh..opq") return OPAQUE;
  if (base.startsWith(".wh.")) return WHITEOUT;
  return e.type === "5" ? DIR : e.type === "0" ? FILE : e.type === "1" ? LINK : OTHER;
}

function changed(what: string): UploadError {
  return new UploadError("INPUT", `${what} changed between the two reads that flatten it`, {
    hint: "make sure nothing rewrites or re-tags the image while it is uploaded, then run again",
  });
}

async function head(e: TarEntry, n: number): Promise<Uint8Array> {
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

type Blob = "json" | "tar" | "gzip" | "zstd" | "other";

function blobKind(h: Uint8Array): Blob {
  if (h[0] === 0x1f && h[1] === 0x8b) return "gzip";
  if (h[0] === 0x28 && h[1] === 0xb5 && h[2] === 0x2f && h[3] === 0xfd) return "zstd";
  if (h[0] === 0x7b || h[0] === 0x5b) return "json";
  // A layer's tar starts with a header; an empty one with its end-of-archive blocks.
  return h.byteLength === 512 && (h.every((b) => b === 0) || h[257] === 0x75) ? "tar" : "other";
}

/** A layer blob's tar: inflated first where it is gzip. */
function layerTar(e: TarEntry, first: Uint8Array, kind: Blob): ReadableStream<Uint8Array> {
  const raw = entryStream(e, first);
  return kind === "gzip" ? gunzip(raw) : raw;
}

async function indexLayer(input: ReadableStream<Uint8Array>, xattrs: ImageArchive["xattrs"]): Promise<LayerIndex> {
  const layer: LayerIndex = { paths: [], kinds: [], sizes: [], links: new Map() };
  for await (const e of tarEntries(input)) {
    const path = clean(e.path);
    if (!path) continue;
    const base = posix.basename(path);
    if (base.startsWith(".wh..wh.") && base !== ".wh..wh..opq") continue;
    const kind = kindOf(e, base);
    const dir = posix.dirname(path);
    const at = layer.paths.length;
    layer.kinds.push(kind);
    if (kind === OPAQUE || kind === WHITEOUT) {
      layer.paths.push(kind === OPAQUE ? clean(dir) : clean(`${dir}/${base.slice(4)}`));
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

function parse(bytes: Uint8Array | undefined, what: string): Record<string, unknown> {
  try {
    const v = bytes && JSON.parse(Buffer.from(bytes).toString("utf8"));
    if (v && typeof v === "object") return v;
  } catch {
    // reported below
  }
  throw new UploadError("INPUT", `the image archive's ${what} is missing or is not JSON`, {
    hint: "save the image again (docker save -o FILE IMAGE) and pass that file",
  });
}

/** Which config and layers the archive's manifest names: docker save's manifest.json, else the OCI index. */
function resolveImage(docs: Map<string, Uint8Array>, aliases: Map<string, string>): { config: string; layers: string[] } {
  const name = (n: string) => {
    const c = clean(n);
    return aliases.get(c) ?? c;
  };
  const manifest = docs.get("manifest.json");
  if (manifest) {
    const list = parse(manifest, "manifest.json") as unknown as Array<{ Config: string; Layers: string[] }>;
    if (!Array.isArray(list) || list.length !== 1) {
      throw new UploadError("INPUT", `the archive holds ${Array.isArray(list) ? list.length : 0} images, and one is flattened at a time`, {
        hint: "save the one image to flatten: docker save -o FILE IMAGE",
      });
    }
    const [m] = list as [{ Config: string; Layers: string[] }];
    return { config: name(m.Config), layers: (m.Layers ?? []).map(name) };
  }
  const read = (digest: string) => {
    const doc = docs.get(blobPath(digest));
    if (!doc) throw parse(undefined, `blob ${digest}`);
    return doc;
  };
  const all = imageManifests(parse(docs.get("index.json"), "index.json") && (docs.get("index.json") as Uint8Array), read);
  if (all.length !== 1) {
    const have = [...new Set(all.map((m) => platformText(m.desc.platform)))].join(", ") || "none";
    throw new UploadError("INPUT", `the OCI layout holds ${all.length} images (${have}), and one is flattened at a time`, {
      hint: "pass --platform os/arch to pick one",
    });
  }
  const m = parse(read((all[0] as { desc: { digest: string } }).desc.digest), "manifest");
  const config = m.config as { digest: string } | undefined;
  const layers = (Array.isArray(m.layers) ? m.layers : []) as Array<{ digest: string }>;
  return { config: blobPath(config?.digest ?? ""), layers: layers.map((l) => blobPath(l.digest)) };
}

/** The first pass: every layer's paths and the image config. */
export async function indexArchive(open: () => ReadableStream<Uint8Array>, signal: AbortSignal): Promise<ImageArchive> {
  const docs = new Map<string, Uint8Array>();
  const index = new Map<string, LayerIndex>();
  const aliases = new Map<string, string>();
  const zstd = new Set<string>();
  const xattrs: ImageArchive["xattrs"] = { count: 0 };
  for await (const e of tarEntries(abortable(open(), signal))) {
    const name = clean(e.path);
    // docker save links a layer it has written once already.
    if (e.type === "1" || e.type === "2")
      aliases.set(name, clean(e.type === "2" ? posix.join(posix.dirname(name), e.linkpath) : e.linkpath));
    if (e.type !== "0" || e.size === 0) continue;
    const first = await head(e, Math.min(512, e.size));
    const kind = blobKind(first);
    if (kind === "json" && e.size <= DOC_CAP) docs.set(name, Buffer.concat([first, await head(e, e.size - first.byteLength)]));
    else if (kind === "tar" || kind === "gzip") {
      try {
        index.set(name, await indexLayer(layerTar(e, first, kind), xattrs));
      } catch (err) {
        throw err instanceof TornArchive ? new TornArchive(`layer ${name}: ${err.message}`) : err;
      }
    } else if (kind === "zstd") zstd.add(name);
  }
  const { config, layers } = resolveImage(docs, aliases);
  for (const l of layers) {
    if (zstd.has(l)) {
      throw new UploadError("INPUT", `layer ${l} is zstd-compressed, which cannot be flattened here`, {
        hint: "convert it to gzip layers (skopeo copy --dest-compress-format gzip …) or send it with --context image",
      });
    }
    if (!index.has(l)) throw new TornArchive(`it names layer ${l} but does not hold it`);
  }
  const doc = parse(docs.get(config), `config ${config}`);
  return { layers, index, config: (doc.config ?? {}) as Record<string, unknown>, xattrs };
}

function hidden(path: string, blocked: Set<string>, opaque: Set<string>): boolean {
  if (blocked.has(path)) return true;
  for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) {
    const up = path.slice(0, i);
    if (blocked.has(up) || opaque.has(up)) return true;
  }
  return false;
}

/**
 * Which layer each surviving path comes from, top layer first: a whiteout hides the path
 * and all under it below, an opaque folder hides what lower layers put in it, and a file
 * hides whatever a lower layer had under that name. Hard links whose target was replaced
 * above keep the data they had: the first of them takes it, the rest link to it.
 */
export function planFlatten(archive: ImageArchive): Plan {
  const blocked = new Set<string>();
  const opaque = new Set<string>();
  const keep = new Map<string, number>();
  const renames = new Map<string, string>();
  let entries = 0;
  let bytes = 1024;
  for (let pos = archive.layers.length - 1; pos >= 0; pos--) {
    const layer = archive.index.get(archive.layers[pos] as string) as LayerIndex;
    const { paths, kinds, sizes } = layer;
    for (let i = 0; i < paths.length; i++) {
      const p = paths[i] as string;
      if (kinds[i] === WHITEOUT || kinds[i] === OPAQUE || keep.has(p) || hidden(p, blocked, opaque)) continue;
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
      const slack = 1024 + Math.ceil(p.length / 512) * 512;
      if (!renames.has(key)) {
        renames.set(key, p);
        bytes += (sizes[t] as number) - (sizes[i] as number) + slack;
      } else bytes += slack;
    }
    // The bottom layer hides nothing: most of an image's paths need not be remembered twice.
    for (let i = 0; pos > 0 && i < paths.length; i++) {
      const k = kinds[i];
      if (k === WHITEOUT || k === FILE || k === OTHER || k === LINK) blocked.add(paths[i] as string);
      else if (k === OPAQUE) opaque.add(paths[i] as string);
    }
  }
  return { keep, renames, entries, bytes };
}

/**
 * The second pass: the flattened root filesystem as a tar of exactly `declared` bytes
 * (what the plan sized, then zeros), so it can sit in an outer tar whose header came first.
 */
export async function* flattened(
  open: () => ReadableStream<Uint8Array>,
  archive: ImageArchive,
  plan: Plan,
  declared: number,
  what: string,
): AsyncGenerator<Uint8Array> {
  const positions = new Map<string, number[]>();
  archive.layers.forEach((l, pos) => {
    positions.set(l, [...(positions.get(l) ?? []), pos]);
  });
  let written = 0;
  let count = 0;
  const put = (bytes: Uint8Array) => {
    written += bytes.byteLength;
    if (written > declared - 1024) throw changed(what);
    return bytes;
  };
  for await (const outer of tarEntries(open())) {
    const at = positions.get(clean(outer.path));
    if (!at || outer.type !== "0") continue;
    const first = await head(outer, Math.min(512, outer.size));
    for await (const e of tarEntries(layerTar(outer, first, blobKind(first)))) {
      const path = clean(e.path);
      if (!path) continue;
      const rename = (target: string) => at.map((pos) => plan.renames.get(`${pos}\0${target}`)).find(Boolean);
      const keptHere = at.includes(plan.keep.get(path) ?? -1);
      let link = linkOf(e);
      let as: string | undefined = keptHere ? path : e.type === "0" ? rename(path) : undefined;
      if (e.type === "1" && keptHere) {
        const carrier = rename(link);
        // The first link to a replaced target was written in its place, with its data.
        if (carrier === path) as = undefined;
        else if (carrier) link = carrier;
      }
      if (as === undefined) continue;
      const header = emitted(e, as, link);
      const head = tarHeader(header);
      const pad = padding(header.size);
      if (header.size <= SMALL) {
        // Header, data and padding as one chunk: most files of an image are small.
        const whole = new Uint8Array(head.byteLength + header.size + pad);
        whole.set(head);
        let at = head.byteLength;
        for (let c = await e.read(); c; c = await e.read()) {
          whole.set(c, at);
          at += c.byteLength;
        }
        yield put(whole);
      } else {
        yield put(head);
        for (let c = await e.read(); c; c = await e.read()) yield put(c);
        if (pad > 0) yield put(new Uint8Array(pad));
      }
      count++;
    }
  }
  if (count !== plan.entries) throw changed(what);
  for (let left = declared - written; left > 0; left -= 1024 * 1024) yield new Uint8Array(Math.min(left, 1024 * 1024));
}
