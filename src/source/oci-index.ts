/**
 * OCI image layouts with more than one platform: which platforms an index holds, and the
 * single-platform layout (that platform's manifest, config and layers, and an index naming
 * only it) that --platform sends instead of all of them.
 */
import { UploadError } from "../errors.ts";
import { parseDocument } from "../lib/document.ts";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** The media types of a document that lists images (an index), not one image's manifest. */
export const INDEX_TYPES = new Set([
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
]);

export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...rest] = text.split("/");
  if (!os || !architecture || rest.length > 0 || variant === "") {
    throw new UploadError("USAGE", `--platform ${text} is not os/arch[/variant]`, {
      hint: "for example --platform linux/amd64 or linux/arm64/v8",
    });
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function platformText(p: Platform | undefined): string {
  if (!p) return "unknown platform";
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/**
 * The platform an image config names (os, architecture, variant), as os/arch[/variant]; or
 * none, where it names no os and architecture or names them in anything but the plain
 * words a platform is made of (it becomes part of a FROM line).
 */
export function namedPlatform(os: unknown, architecture: unknown, variant: unknown): string | undefined {
  const word = (v: unknown) => (typeof v === "string" && /^[a-z0-9_.-]+$/i.test(v) ? v : undefined);
  const [o, a] = [word(os), word(architecture)];
  return o && a ? platformText({ os: o, architecture: a, variant: word(variant) }) : undefined;
}

function matches(p: Platform | undefined, want: Platform): boolean {
  return p?.os === want.os && p.architecture === want.architecture && (!want.variant || p.variant === want.variant);
}

/** Reads a blob of the layout by digest ("sha256:…"): small JSON documents only, each capped by the reader. */
export type BlobReader = (digest: string) => Uint8Array;

export function blobPath(digest: string): string {
  const [alg, hex, ...rest] = digest.split(":");
  if (!alg || !hex || rest.length > 0 || !/^[a-z0-9]+$/.test(alg) || !/^[a-f0-9]+$/.test(hex)) {
    throw badLayout(`a digest that is not one: ${digest.slice(0, 100)}`);
  }
  return `blobs/${alg}/${hex}`;
}

function badLayout(what: string): UploadError {
  return new UploadError("INPUT", `the OCI layout holds ${what}`, {
    hint: "check the layout with skopeo inspect oci:DIR, or save it again",
  });
}

function json(bytes: Uint8Array, what: string): Record<string, unknown> {
  return parseDocument(bytes, () => badLayout(`a ${what} that is not JSON`));
}

/** A descriptor as the spec has it: at least a digest that is one. */
function descriptor(raw: unknown, what: string): Descriptor {
  const d = raw as Descriptor;
  if (typeof d !== "object" || d === null || typeof d.digest !== "string") throw badLayout(`${what} without a digest`);
  blobPath(d.digest);
  return d;
}

/** Real layouts nest an index or two; deeper is a loop in disguise. */
const MAX_DEPTH = 4;
/** Descriptors one input may name in all its indexes. */
const MAX_DESCRIPTORS = 10_000;

interface IndexWalk {
  /** The image manifests, each once, with the top-level entry naming it. */
  manifests: Array<{ desc: Descriptor; top: Descriptor }>;
  /** The nested indexes passed through, each once. */
  indexes: Descriptor[];
}

/**
 * The image manifests an index leads to. Each digest is read once, whatever names it
 * again (a cycle, a fan-out), and the walk is capped in depth and in descriptors, so its
 * cost grows with the input's size, never faster.
 */
function walkIndex(index: Uint8Array, read: BlobReader): IndexWalk {
  const walk: IndexWalk = { manifests: [], indexes: [] };
  const seen = new Set<string>();
  let named = 0;
  const visit = (doc: Record<string, unknown>, top: Descriptor | undefined, depth: number) => {
    for (const raw of Array.isArray(doc.manifests) ? doc.manifests : []) {
      if (++named > MAX_DESCRIPTORS) throw badLayout(`indexes that name more than ${MAX_DESCRIPTORS} manifests`);
      const d = descriptor(raw, "an index entry");
      if (seen.has(d.digest)) continue;
      seen.add(d.digest);
      if (!INDEX_TYPES.has(d.mediaType ?? "")) {
        walk.manifests.push({ desc: d, top: top ?? d });
        continue;
      }
      if (depth >= MAX_DEPTH) throw badLayout(`indexes nested more than ${MAX_DEPTH} deep`);
      walk.indexes.push(d);
      visit(json(read(d.digest), "nested index"), top ?? d, depth + 1);
    }
  };
  visit(json(index, "index.json"), undefined, 0);
  return walk;
}

/** The image manifests an index leads to, each once, with the top-level entry naming it. */
export function imageManifests(index: Uint8Array, read: BlobReader): Array<{ desc: Descriptor; top: Descriptor }> {
  return walkIndex(index, read).manifests;
}

/** What a manifest names: its config, then its layers, bottom first. */
export function manifestBlobs(manifest: Descriptor, read: BlobReader): { config: Descriptor | undefined; layers: Descriptor[] } {
  const m = json(read(manifest.digest), "manifest");
  const layers = (Array.isArray(m.layers) ? m.layers : []).map((l) => descriptor(l, "a manifest's layer"));
  return { config: m.config === undefined ? undefined : descriptor(m.config, "a manifest's config"), layers };
}

/** Every blob the index reaches (nested indexes, manifests, configs, layers): what a layout folder sends. */
export function reachedBlobs(index: Uint8Array, read: BlobReader): Set<string> {
  const { manifests, indexes } = walkIndex(index, read);
  const out = new Set(indexes.map((d) => blobPath(d.digest)));
  for (const { desc } of manifests) {
    const { config, layers } = manifestBlobs(desc, read);
    for (const d of [desc, ...(config ? [config] : []), ...layers]) out.add(blobPath(d.digest));
  }
  return out;
}

export interface Selection {
  /** Blob paths to keep: the manifest, its config and layers. */
  keep: Set<string>;
  /** The index.json naming only the chosen manifest. */
  index: Uint8Array;
}

/** The chosen platform's blobs and index, or an error that lists what the layout holds. */
export function selectPlatform(index: Uint8Array, read: BlobReader, want: Platform, where: string): Selection {
  const all = imageManifests(index, read);
  const chosen = all.find((m) => matches(m.desc.platform, want));
  if (!chosen) {
    const have = [...new Set(all.map((m) => platformText(m.desc.platform)))].join(", ") || "none";
    throw new UploadError("INPUT", `${where} has no image for ${platformText(want)}: it holds ${have}`, {
      hint: "pass one of those to --platform",
    });
  }
  const { config, layers } = manifestBlobs(chosen.desc, read);
  const keep = new Set([chosen.desc, ...(config ? [config] : []), ...layers].map((d) => blobPath(d.digest)));
  const desc = { ...chosen.desc, annotations: { ...chosen.top.annotations, ...chosen.desc.annotations } };
  const doc = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [desc] };
  return { keep, index: new TextEncoder().encode(JSON.stringify(doc)) };
}

/** The platforms an index holds, for the note on a multi-platform input sent whole. */
export function platformsOf(index: Uint8Array, read: BlobReader): string[] {
  return [...new Set(imageManifests(index, read).map((m) => platformText(m.desc.platform)))];
}
