import { closeSync, existsSync, openSync, readSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { type PackOptions, pack } from "tar-fs";
import { type Engine, saveImage } from "./docker.ts";
import { UploadError } from "./errors.ts";
import { pullStream } from "./streams.ts";
import { validTarHeader } from "./tar.ts";

/**
 * Where the tar bytes come from. A factory rather than a stream: a retried upload needs
 * the bytes again from the start, and only some sources can give them twice.
 */
export interface Source {
  /** Where the bytes come from: the engine's `save`, or something the user handed us. */
  kind: "engine" | "file" | "oci-layout" | "stdin";
  /** Human description for messages: "docker save nginx", "file image.tar", "stdin". */
  label: string;
  /** Expected size in bytes of what open() yields, when known (for progress and ETA). */
  size: number | undefined;
  replayable: boolean;
  /** The bytes are gzip already: send them as they are rather than compress twice. */
  gzipped: boolean;
  /** A regular file that open() would stream: the compressor can read its blocks itself. */
  file?: string;
  open(): ReadableStream<Uint8Array>;
}

export function dockerSource(engine: Engine, image: string, size: number | undefined): Source {
  return {
    kind: "engine",
    label: `${engine.bin} save ${image}`,
    size,
    replayable: true,
    gzipped: false,
    open: () => saveImage(engine, image),
  };
}

const INPUT_HINT = "pass a docker save or OCI archive (docker save -o image.tar IMAGE), an OCI layout folder, or - for stdin";

function inputError(message: string, cause?: unknown): UploadError {
  return new UploadError("INPUT", message, { hint: INPUT_HINT, cause });
}

/** What the first bytes of an archive say it is. */
export function sniff(head: Uint8Array): "gzip" | "tar" | "unknown" {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 512 && validTarHeader(head.subarray(0, 512))) return "tar";
  return "unknown";
}

export function fileSource(path: string): Source {
  let size: number;
  try {
    const st = statSync(path);
    // tar-fs packs a symlink as a link: the folder it names is what the user meant.
    if (st.isDirectory()) return ociLayoutSource(realpathSync(path));
    if (!st.isFile()) throw new Error("not a regular file");
    size = st.size;
  } catch (cause) {
    if (cause instanceof UploadError) throw cause;
    throw inputError(`cannot read --input ${path}: ${(cause as Error).message}`, cause);
  }
  const head = Buffer.alloc(512);
  const fd = openSync(path, "r");
  const got = readSync(fd, head, 0, 512, 0);
  closeSync(fd);
  const kind = sniff(head.subarray(0, got));
  if (kind === "unknown") throw inputError(`--input ${path} is neither a tar archive nor gzip`);
  return {
    kind: "file",
    label: `file ${path}${kind === "gzip" ? " (gzip, sent as is)" : ""}`,
    size,
    replayable: true,
    gzipped: kind === "gzip",
    file: kind === "tar" ? path : undefined,
    open: () => Bun.file(path).stream(),
  };
}

/** An OCI image layout folder (oci-layout, index.json, blobs/), packed as a tar on the fly. */
function ociLayoutSource(dir: string): Source {
  for (const need of ["oci-layout", "index.json", "blobs"]) {
    if (!existsSync(join(dir, need))) {
      throw inputError(`--input ${dir} is a folder but not an OCI image layout: it has no ${need}`);
    }
  }
  return {
    kind: "oci-layout",
    label: `OCI layout ${dir}`,
    size: undefined,
    replayable: true,
    gzipped: false,
    open: () => {
      // Sorted names and no owner ids: the same folder always packs to the same bytes.
      const options = { sort: true, map: (h) => ({ ...h, uid: 0, gid: 0, uname: "", gname: "" }) } as PackOptions & { sort: boolean };
      return pullFrom(pack(dir, options) as unknown as AsyncIterable<Uint8Array>);
    },
  };
}

/** A web stream over an async iterable (tar-fs gives a streamx stream), pulled on demand. */
function pullFrom(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return pullStream({
    next: async () => {
      const r = await it.next();
      return r.done ? undefined : r.value;
    },
    release: () => it.return?.(),
  });
}

export function stdinSource(): Source {
  let opened = false;
  return {
    kind: "stdin",
    label: "stdin",
    size: undefined,
    replayable: false,
    gzipped: false,
    open() {
      if (opened) {
        throw new UploadError("INPUT", "standard input cannot be read twice, so the upload cannot be retried", {
          hint: "save the archive to a file and pass --input FILE to get automatic retries",
        });
      }
      opened = true;
      return Bun.stdin.stream();
    },
  };
}
