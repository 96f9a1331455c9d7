/**
 * OCI image layouts as sources: a folder packed on the fly, or an archive file; with
 * --platform, only that platform's blobs and an index naming only it.
 */
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync } from "node:fs";
import { join, relative } from "node:path";
import { type PackOptions, pack } from "tar-fs";
import { UploadError } from "../errors.ts";
import { DocumentBudget } from "../lib/document.ts";
import { preadFully, readRange } from "../lib/pread.ts";
import { fromIterable, pullStream } from "../lib/streams.ts";
import { END_OF_ARCHIVE, padding } from "../tar/block.ts";
import { type Entry, listEntries } from "../tar/list.ts";
import { fileEntryHeader } from "../tar/write.ts";
import { type BlobReader, blobPath, type Platform, platformsOf, platformText, reachedBlobs, selectPlatform } from "./oci-index.ts";
import type { Source } from "./source.ts";

function layoutError(message: string): UploadError {
  return new UploadError("INPUT", message, {
    hint: "pass an OCI layout folder or archive (skopeo copy … oci:DIR), or a docker save archive",
  });
}

/** With several platforms and no --platform, all are sent: say so. */
function manyPlatforms(index: Uint8Array, read: BlobReader): string[] {
  const platforms = platformsOf(index, read);
  if (platforms.length < 2) return [];
  return [`the input holds ${platforms.length} platforms (${platforms.join(", ")}): all are sent; --platform sends one`];
}

/** Each document read once per input: a platform note and a selection walk the same index. */
function once(read: BlobReader): BlobReader {
  const seen = new Map<string, Uint8Array>();
  return (digest) => {
    const bytes = seen.get(digest) ?? read(digest);
    seen.set(digest, bytes);
    return bytes;
  };
}

/**
 * A file of the layout that must be a regular file inside it: no link out of the folder,
 * no FIFO to hang on, no device to read forever. Checked before it is opened, and again
 * on the open file (O_NOFOLLOW, O_NONBLOCK), so a swap in between is refused too.
 */
function openRegular(dir: string, rel: string, what: string): number {
  const parts = rel.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const path = join(dir, ...parts.slice(0, i));
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(path);
    } catch {
      throw layoutError(`--input ${dir} names ${what} but does not hold it`);
    }
    const last = i === parts.length;
    if (last ? !st.isFile() : !st.isDirectory()) {
      const kind = st.isSymbolicLink() ? "a symbolic link" : st.isFIFO() ? "a FIFO" : last ? "not a regular file" : "not a folder";
      const named = parts.slice(0, i).join("/");
      throw layoutError(
        `--input ${dir}: ${named}${last && what !== rel ? ` (${what})` : ""} is ${kind}; an OCI layout holds only folders and regular files`,
      );
    }
  }
  let fd: number;
  try {
    fd = openSync(join(dir, rel), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    throw layoutError(`--input ${dir}: cannot read ${rel} (${what}): ${(e as Error).message}`);
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw layoutError(`--input ${dir}: ${rel} (${what}) changed into something other than a regular file`);
  }
  return fd;
}

/** A document of the layout, whole, under the input's document budget. */
function readDocumentFile(dir: string, rel: string, what: string, budget: DocumentBudget): Uint8Array {
  const fd = openRegular(dir, rel, what);
  try {
    const size = fstatSync(fd).size;
    budget.take(size, what);
    const out = new Uint8Array(size);
    return out.subarray(0, preadFully(fd, out, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * An OCI image layout folder, packed as a tar on the fly: oci-layout, index.json and the
 * blobs the index reaches, nothing else the folder may hold. With --platform, that
 * platform's blobs and an index naming only it.
 */
export function ociLayoutSource(dir: string, platform: Platform | undefined): Source {
  for (const need of ["oci-layout", "index.json", "blobs"]) {
    if (!existsSync(join(dir, need))) {
      throw layoutError(`--input ${dir} is a folder but not an OCI image layout: it has no ${need}`);
    }
  }
  const budget = new DocumentBudget((message) => layoutError(`--input ${dir} is not a usable OCI layout: ${message}`));
  const read = once((digest) => readDocumentFile(dir, blobPath(digest), `blob ${digest}`, budget));
  const index = readDocumentFile(dir, "index.json", "index.json", budget);
  const only = platform && selectPlatform(index, read, platform, `--input ${dir}`);
  const blobs = only ? only.keep : reachedBlobs(index, read);
  for (const rel of blobs) closeSync(openRegular(dir, rel, rel));
  const sent = new Set(["", "oci-layout", "blobs", ...(only ? [] : ["index.json"])]);
  for (const rel of blobs) sent.add(rel).add(rel.slice(0, rel.lastIndexOf("/")));
  return {
    kind: "oci-layout",
    label: `OCI layout ${dir}${platform ? ` (${platformText(platform)} only)` : ""}`,
    size: undefined,
    replayable: true,
    gzipped: false,
    notes: only ? [] : manyPlatforms(index, read),
    open: () => {
      // Sorted names and no owner ids: the same folder always packs to the same bytes.
      const options = {
        sort: true,
        ignore: (name: string) => !sent.has(relative(dir, name)),
        map: (h) => ({ ...h, uid: 0, gid: 0, uname: "", gname: "" }),
      } as PackOptions & { sort: boolean };
      if (only) {
        Object.assign(options, {
          finalize: false,
          finish: (p) => {
            p.entry({ name: "index.json", mode: 0o644 }, Buffer.from(only.index));
            p.finalize();
          },
        } satisfies PackOptions);
      }
      return fromIterable(pack(dir, options) as unknown as AsyncIterable<Uint8Array>);
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
  const budget = new DocumentBudget((message) => layoutError(`--input ${path} is not a usable OCI archive: ${message}`));
  const document = (e: Entry, what: string) => {
    budget.take(e.stored, what);
    return readRange(path, e.dataStart, e.stored);
  };
  const read = once((digest) => {
    const e = byName.get(blobPath(digest));
    if (!e) throw layoutError(`--input ${path} names blob ${digest} but does not hold it`);
    return document(e, `blob ${digest}`);
  });
  const indexBytes = document(index, "index.json");
  if (!platform) return { notes: manyPlatforms(indexBytes, read) };
  const only = selectPlatform(indexBytes, read, platform, `--input ${path}`);
  const kept = entries.filter((e) => e !== index && (e.type === "5" || strip(e.name) === "oci-layout" || only.keep.has(strip(e.name))));
  const tail = Buffer.concat([
    fileEntryHeader("index.json", only.index.byteLength),
    only.index,
    Buffer.alloc(padding(only.index.byteLength)),
    Buffer.alloc(END_OF_ARCHIVE),
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
      if (preadFully(fd, buf, at) < n) throw layoutError(`--input ${path} changed while it was read`);
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
