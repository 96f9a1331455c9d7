/**
 * OCI image layouts with more than one platform: which platforms an index holds, and the
 * single-platform layout (that platform's manifest, config and layers, and an index naming
 * only it) that --platform sends instead of all of them.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { UploadError } from "./errors.ts";

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

const INDEX_TYPES = new Set(["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"]);

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

function matches(p: Platform | undefined, want: Platform): boolean {
  return p?.os === want.os && p.architecture === want.architecture && (!want.variant || p.variant === want.variant);
}

/** Reads a blob of the layout by digest ("sha256:…"); small JSON documents only. */
export type BlobReader = (digest: string) => Uint8Array;

export function blobPath(digest: string): string {
  const [alg, hex] = digest.split(":");
  if (!alg || !hex || !/^[a-z0-9]+$/.test(alg) || !/^[a-f0-9]+$/.test(hex)) throw badLayout(`a digest that is not one: ${digest}`);
  return `blobs/${alg}/${hex}`;
}

function badLayout(what: string): UploadError {
  return new UploadError("INPUT", `the OCI layout holds ${what}`, {
    hint: "check the layout with skopeo inspect oci:DIR, or save it again",
  });
}

function json(bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(Buffer.from(bytes).toString("utf8"));
    if (typeof v === "object" && v !== null) return v;
  } catch {
    // reported below
  }
  throw badLayout(`a ${what} that is not JSON`);
}

/** The image manifests an index leads to (nested indexes followed), each with the top-level entry naming it. */
export function imageManifests(index: Uint8Array, read: BlobReader): Array<{ desc: Descriptor; top: Descriptor }> {
  const out: Array<{ desc: Descriptor; top: Descriptor }> = [];
  const walk = (doc: Record<string, unknown>, top: Descriptor | undefined, depth: number) => {
    for (const d of (Array.isArray(doc.manifests) ? doc.manifests : []) as Descriptor[]) {
      if (INDEX_TYPES.has(d.mediaType ?? "")) {
        if (depth < 2) walk(json(read(d.digest), "nested index"), top ?? d, depth + 1);
      } else out.push({ desc: d, top: top ?? d });
    }
  };
  walk(json(index, "index.json"), undefined, 0);
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
  const manifest = json(read(chosen.desc.digest), "manifest");
  const layers = (Array.isArray(manifest.layers) ? manifest.layers : []) as Descriptor[];
  const config = manifest.config as Descriptor | undefined;
  const keep = new Set([chosen.desc, ...(config ? [config] : []), ...layers].map((d) => blobPath(d.digest)));
  const desc = { ...chosen.desc, annotations: { ...chosen.top.annotations, ...chosen.desc.annotations } };
  const doc = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [desc] };
  return { keep, index: new TextEncoder().encode(JSON.stringify(doc)) };
}

/** The platforms an index holds, for the note on a multi-platform input sent whole. */
export function platformsOf(index: Uint8Array, read: BlobReader): string[] {
  return [...new Set(imageManifests(index, read).map((m) => platformText(m.desc.platform)))];
}

/** pread of a range: the layout's small JSON documents. */
export function readRange(path: string, at: number, size: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const out = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, out, got, size - got, at + got);
      if (n <= 0) break;
      got += n;
    }
    return out.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
