/**
 * OCI image layouts as sources: a folder packed on the fly, or an archive file; with
 * --platform, only that platform's blobs and an index naming only it.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from "node:fs";
import { join, relative } from "node:path";
import { type PackOptions, pack } from "tar-fs";
import { UploadError } from "./errors.ts";
import { type BlobReader, blobPath, type Platform, platformsOf, platformText, readRange, type Selection, selectPlatform } from "./oci.ts";
import type { Source } from "./source.ts";
import { fromIterable, pullStream } from "./streams.ts";
import { type Entry, listEntries, padding } from "./tar.ts";
import { fileEntryHeader } from "./tar-write.ts";

function layoutError(message: string): UploadError {
  return new UploadError("INPUT", message, {
    hint: "pass an OCI layout folder or archive (skopeo copy … oci:DIR), or a docker save archive",
  });
}

/** With several platforms and no --platform, all are sent: say so. */
function manyPlatforms(index: Uint8Array, read: BlobReader): string | undefined {
  const platforms = platformsOf(index, read);
  if (platforms.length < 2) return undefined;
  return `the input holds ${platforms.length} platforms (${platforms.join(", ")}): all are sent; --platform sends one`;
}

/** An OCI image layout folder (oci-layout, index.json, blobs/), packed as a tar on the fly. */
export function ociLayoutSource(dir: string, platform: Platform | undefined): Source {
  for (const need of ["oci-layout", "index.json", "blobs"]) {
    if (!existsSync(join(dir, need))) {
      throw layoutError(`--input ${dir} is a folder but not an OCI image layout: it has no ${need}`);
    }
  }
  const read: BlobReader = (digest) => readFileSync(join(dir, blobPath(digest)));
  const index = readFileSync(join(dir, "index.json"));
  const only = platform && selectPlatform(index, read, platform, `--input ${dir}`);
  return {
    kind: "oci-layout",
    label: `OCI layout ${dir}${platform ? ` (${platformText(platform)} only)` : ""}`,
    size: undefined,
    replayable: true,
    gzipped: false,
    note: only ? undefined : manyPlatforms(index, read),
    open: () => {
      // Sorted names and no owner ids: the same folder always packs to the same bytes.
      const options = { sort: true, map: (h) => ({ ...h, uid: 0, gid: 0, uname: "", gname: "" }) } as PackOptions & { sort: boolean };
      if (only) Object.assign(options, onePlatform(dir, only));
      return fromIterable(pack(dir, options) as unknown as AsyncIterable<Uint8Array>);
    },
  };
}

/** Packs the chosen platform's blobs and an index naming only it, in place of the folder's own. */
function onePlatform(dir: string, only: Selection): PackOptions {
  return {
    ignore: (name: string) => {
      const rel = relative(dir, name);
      return rel === "index.json" || (/^blobs\/[^/]+\/[^/]+$/.test(rel) && !only.keep.has(rel));
    },
    finalize: false,
    finish: (p) => {
      p.entry({ name: "index.json", mode: 0o644 }, Buffer.from(only.index));
      p.finalize();
    },
  };
}

const strip = (name: string) => name.replace(/^\.\//, "");

/**
 * An OCI archive file (the layout as one tar). With --platform, the entries it keeps are
 * copied byte for byte from the file, and a new index.json closes the archive.
 */
export function ociArchive(path: string, size: number, platform: Platform | undefined): Partial<Source> | undefined {
  const entries = listEntries(path, size);
  const byName = new Map(entries.map((e) => [strip(e.name), e]));
  const index = byName.get("index.json");
  if (!index || !byName.has("oci-layout")) return undefined;
  const read: BlobReader = (digest) => {
    const e = byName.get(blobPath(digest));
    if (!e) throw layoutError(`--input ${path} names blob ${digest} but does not hold it`);
    return readRange(path, e.dataStart, e.size);
  };
  const indexBytes = readRange(path, index.dataStart, index.size);
  if (!platform) return { note: manyPlatforms(indexBytes, read) };
  const only = selectPlatform(indexBytes, read, platform, `--input ${path}`);
  const kept = entries.filter((e) => e !== index && (e.type === "5" || strip(e.name) === "oci-layout" || only.keep.has(strip(e.name))));
  const tail = Buffer.concat([
    fileEntryHeader("index.json", only.index.byteLength),
    only.index,
    Buffer.alloc(padding(only.index.byteLength)),
    Buffer.alloc(1024),
  ]);
  return {
    kind: "file",
    label: `file ${path} (${platformText(platform)} only)`,
    size: kept.reduce((n, e) => n + e.end - e.start, 0) + tail.byteLength,
    // Not the file as it is on disk: the Workers must not read it themselves.
    file: undefined,
    replayable: true,
    gzipped: false,
    open: () => copyRanges(path, kept, tail),
  };
}

/** The kept entries' bytes, 1 MiB at a time, then `tail`. */
function copyRanges(path: string, kept: Entry[], tail: Uint8Array): ReadableStream<Uint8Array> {
  let fd: number | undefined;
  let i = 0;
  let at = kept[0]?.start ?? 0;
  let ended = false;
  return pullStream({
    async next() {
      fd ??= openSync(path, "r");
      const e = kept[i];
      if (!e) {
        if (ended) return undefined;
        ended = true;
        return tail;
      }
      const n = Math.min(1 << 20, e.end - at);
      const buf = new Uint8Array(n);
      const got = readSync(fd, buf, 0, n, at);
      if (got < n) throw layoutError(`--input ${path} changed while it was read`);
      at += n;
      if (at >= e.end) at = kept[++i]?.start ?? 0;
      return buf;
    },
    release: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  });
}
