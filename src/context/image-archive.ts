/**
 * The first pass over an image's archive (docker save or OCI layout, as a tar stream):
 * every layer's paths, the order the manifest puts the layers in, and the image config.
 */

import { posix } from "node:path";
import { UploadError } from "../errors.ts";
import { DocumentBudget, parseDocument } from "../lib/document.ts";
import { abortable } from "../lib/streams.ts";
import { blobPath, imageManifests, manifestBlobs, namedPlatform, platformText } from "../source/oci-index.ts";
import { BLOCK } from "../tar/block.ts";
import type { SeekEntry } from "../tar/list.ts";
import { tarEntries } from "../tar/read.ts";
import { TornArchive } from "../tar/torn-archive.ts";
import { LayerPositions } from "./layer-positions.ts";
import { blobKind, indexLayer, type LayerIndex, type LayerNotes, layerNotes, layerTar, normalPath, readHead } from "./layers.ts";

/** Where an image's documents can be: docker save's manifest.json and config, an OCI layout's index and blobs. */
const DOCUMENT_NAME = /^(?:[^/]+\.json|blobs\/[^/]+\/[^/]+)$/;

export interface ImageArchive {
  /** Layer blob names in the archive, bottom to top, each once: where the manifest names one twice, its topmost place. */
  layers: string[];
  index: Map<string, LayerIndex>;
  /** The image config's "config" object: Env, Cmd, Entrypoint, … */
  config: Record<string, unknown>;
  /** os/arch[/variant], as the config says; none where it says no os and architecture. */
  platform?: string;
  notes: LayerNotes;
  /** Each layer's tar, uncompressed, up to its end-of-archive marker: what it weighs, for the reuse report. */
  layerBytes: Map<string, number>;
  /**
   * What names the image by content, where its layers can be reused one by one: the layers'
   * diff IDs (bottom first, one per layer, none named twice), the image ID (the sha256 of
   * its config), and when each layer was made, where the history says.
   */
  identity?: { diffIds: string[]; imageId: string; created: Array<string | undefined> };
}

function unusable(what: string): UploadError {
  return new UploadError("INPUT", `the image archive's ${what} is missing or is not JSON`, {
    hint: "save the image again (docker save -o FILE IMAGE) and pass that file",
  });
}

/** A document the archive must hold: absent, it is refused in the same words as one that is not JSON. */
function doc(bytes: Uint8Array | undefined, what: string): Uint8Array {
  if (!bytes) throw unusable(what);
  return bytes;
}

function parse(bytes: Uint8Array | undefined, what: string): Record<string, unknown> {
  return parseDocument(doc(bytes, what), () => unusable(what));
}

/**
 * A layer applied again above itself redoes all it did the first time (its files, its
 * whiteouts, its opaque folders), so only its topmost place changes the result.
 */
function topmost(layers: string[]): string[] {
  const last = new Map(layers.map((l, i) => [l, i]));
  return layers.filter((l, i) => last.get(l) === i);
}

/** Which config and layers the archive's manifest names: docker save's manifest.json, else the OCI index. */
function resolveImage(docs: Map<string, Uint8Array>, aliases: Map<string, string>): { config: string; layers: string[] } {
  const name = (n: string) => {
    const c = normalPath(n);
    return aliases.get(c) ?? c;
  };
  const manifest = docs.get("manifest.json");
  if (manifest) {
    const list = parse(manifest, "manifest.json") as unknown as Array<{ Config: unknown; Layers: unknown }>;
    if (!Array.isArray(list) || list.length !== 1) {
      throw new UploadError("INPUT", `the archive holds ${Array.isArray(list) ? list.length : 0} images, and one is flattened at a time`, {
        hint: "save the one image to flatten: docker save -o FILE IMAGE",
      });
    }
    const [m] = list as [{ Config: unknown; Layers: unknown }];
    const layers = m.Layers ?? [];
    if (typeof m.Config !== "string" || !Array.isArray(layers) || !layers.every((l) => typeof l === "string"))
      throw unusable("manifest.json");
    return { config: name(m.Config), layers: layers.map(name) };
  }
  const read = (digest: string) => doc(docs.get(blobPath(digest)), `blob ${digest}`);
  const all = imageManifests(doc(docs.get("index.json"), "index.json"), read);
  if (all.length !== 1) {
    const have = [...new Set(all.map((m) => platformText(m.desc.platform)))].join(", ") || "none";
    throw new UploadError("INPUT", `the OCI layout holds ${all.length} images (${have}), and one is flattened at a time`, {
      hint: "pass --platform os/arch to pick one",
    });
  }
  const { config, layers } = manifestBlobs((all[0] as (typeof all)[0]).desc, read);
  if (!config) throw unusable("manifest's config");
  return { config: blobPath(config.digest), layers: layers.map((l) => blobPath(l.digest)) };
}

/** The config's own account of the layers, where it has one for each: else no layer can be named by content. */
function identityOf(image: Record<string, unknown>, bytes: Uint8Array, layers: number): ImageArchive["identity"] {
  const diffIds = (image.rootfs as { diff_ids?: unknown } | undefined)?.diff_ids;
  if (
    !Array.isArray(diffIds) ||
    diffIds.length !== layers ||
    !diffIds.every((d) => typeof d === "string" && /^sha256:[0-9a-f]{64}$/.test(d))
  ) {
    return undefined;
  }
  const history = (Array.isArray(image.history) ? image.history : []) as Array<{ created?: unknown; empty_layer?: unknown }>;
  const made = history.filter((h) => h.empty_layer !== true).map((h) => (typeof h.created === "string" ? h.created : undefined));
  const created = made.length === layers ? made : Array<string | undefined>(layers).fill(undefined);
  return { diffIds, imageId: new Bun.CryptoHasher("sha256").update(bytes).digest("hex"), created };
}

/** What an archive's documents say: the layers (bottom first, each once), the config, and what names the image by content. */
export interface ArchiveImage {
  layers: string[];
  config: Record<string, unknown>;
  identity: ImageArchive["identity"];
  platform: string | undefined;
}

const platformOf = (image: Record<string, unknown>) => namedPlatform(image.os, image.architecture, image.variant);

/**
 * The documents of an archive as its entries pass (docker save's manifest.json and config,
 * an OCI layout's index and blobs), under the input's document budget, and the links
 * docker save writes for a layer it has written once already; then the image they describe.
 */
export class ArchiveDocuments {
  private readonly docs = new Map<string, Uint8Array>();
  private readonly aliases = new Map<string, string>();
  private readonly budget = new DocumentBudget(
    (message) =>
      new UploadError("INPUT", `the image archive cannot be flattened: ${message}`, {
        hint: "save the image again (docker save -o FILE IMAGE) and pass that file",
      }),
  );

  private readonly names = new Set<string>();

  /** `layerJsons`: keep docker save's layer folders' json too. */
  constructor(private readonly layerJsons = false) {}

  /**
   * Whether `e` is a regular file to look at; a link is noted. A name held twice is refused:
   * `docker load` reads the last copy, and a pass that took the first would send other bytes.
   */
  regular(name: string, e: { type: string; linkpath: string }): boolean {
    if (e.type !== "0" && e.type !== "1" && e.type !== "2") return false;
    if (this.names.has(name)) {
      throw new UploadError("INPUT", `the image archive holds ${name} twice, so which copy is the image's cannot be told`, {
        hint: "save the image again (docker save -o FILE IMAGE) and pass that file",
      });
    }
    this.names.add(name);
    if (e.type === "0") return true;
    this.aliases.set(name, normalPath(e.type === "2" ? posix.join(posix.dirname(name), e.linkpath) : e.linkpath));
    return false;
  }

  /** Keeps the entry if it is a document (its first block `first`, already read); true where it was one. */
  async take(name: string, e: { size: number; read(max?: number): Promise<Uint8Array | undefined> }, first: Uint8Array): Promise<boolean> {
    if (blobKind(first) !== "json" || !(DOCUMENT_NAME.test(name) || (this.layerJsons && LayerPositions.isLayerJson(name)))) return false;
    this.budget.take(e.size, name);
    this.docs.set(name, Buffer.concat([first, await readHead(e, e.size - first.byteLength)]));
    return true;
  }

  /** A document kept under `name`, where there is one. */
  get(name: string): Uint8Array | undefined {
    return this.docs.get(name);
  }

  /** The image the documents describe. */
  image(): ArchiveImage {
    const { config, layers: named } = resolveImage(this.docs, this.aliases);
    const layers = topmost(named);
    const configBytes = doc(this.docs.get(config), `config ${config}`);
    const image = parse(configBytes, `config ${config}`);
    const identity = layers.length === named.length ? identityOf(image, configBytes, layers.length) : undefined;
    return { layers, config: (image.config ?? {}) as Record<string, unknown>, identity, platform: platformOf(image) };
  }
}

/**
 * The documents alone, the layers passed over (a file's, read by seeking, never touched):
 * enough to name the image by content and to know where each layer lies and what it weighs.
 */
export async function archiveDocuments(
  entries: AsyncIterable<SeekEntry>,
): Promise<ArchiveImage & { positions: Map<string, number>; sizes: number[] }> {
  const docs = new ArchiveDocuments();
  const sizes = new Map<string, number>();
  for await (const e of entries) {
    const name = normalPath(e.path);
    if (!docs.regular(name, e) || e.size === 0) continue;
    sizes.set(name, e.size);
    await docs.take(name, e, await readHead(e, Math.min(BLOCK, e.size)));
  }
  const image = docs.image();
  for (const l of image.layers) if (!sizes.has(l)) throw new TornArchive(`it names layer ${l} but does not hold it`);
  return { ...image, positions: new Map(image.layers.map((l, pos) => [l, pos])), sizes: image.layers.map((l) => sizes.get(l) ?? 0) };
}

/** The first pass: every layer's paths and the image config. */
export async function indexArchive(open: () => ReadableStream<Uint8Array>, signal: AbortSignal): Promise<ImageArchive> {
  const docs = new ArchiveDocuments();
  const index = new Map<string, LayerIndex>();
  const zstd = new Set<string>();
  const notes = layerNotes();
  const notTar = new Map<string, string>();
  const layerBytes = new Map<string, number>();
  for await (const e of tarEntries(abortable(open(), signal))) {
    const name = normalPath(e.path);
    if (!docs.regular(name, e) || e.size === 0) continue;
    const first = await readHead(e, Math.min(BLOCK, e.size));
    if (await docs.take(name, e, first)) continue;
    const kind = blobKind(first);
    if (kind === "tar" || kind === "gzip") {
      try {
        index.set(name, await indexLayer(layerTar(e, first, kind), notes, (bytes) => layerBytes.set(name, bytes)));
      } catch (err) {
        throw err instanceof TornArchive ? new TornArchive(`layer ${name}: ${err.message}`) : err;
      }
    } else if (kind === "zstd") zstd.add(name);
    else notTar.set(name, kind);
  }
  const { layers, config, identity, platform } = docs.image();
  for (const l of layers) {
    if (zstd.has(l)) {
      throw new UploadError("INPUT", `layer ${l} is zstd-compressed, which cannot be flattened here`, {
        hint: "convert it to gzip layers (skopeo copy --dest-compress-format gzip …) or send it with --context image",
      });
    }
    const other = notTar.get(l);
    if (other)
      throw new TornArchive(`layer ${l} is not a tar (${other === "json" ? "it holds JSON" : "its first block is no tar header"})`);
    if (!index.has(l)) throw new TornArchive(`it names layer ${l} but does not hold it`);
  }
  return { layers, index, config, platform, notes, layerBytes, identity };
}
