import { closeSync, openSync, readSync, realpathSync, statSync } from "node:fs";
import { type Engine, saveImage } from "./docker.ts";
import { UploadError } from "./errors.ts";
import { type Platform, platformText } from "./oci.ts";
import { ociArchive, ociLayoutSource } from "./oci-source.ts";
import { type TornArchive, validTarHeader, walking } from "./tar.ts";

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
  /** A Dockerfile build context made from the image (--context dockerfile), not the image's archive. */
  flattened?: boolean;
  /** Something the user should know about what is sent (several platforms, say). */
  note?: string;
  open(): ReadableStream<Uint8Array>;
}

/**
 * `pinned`: save this image ID rather than the name, so that reads that must agree (the
 * two passes of --context dockerfile) see the same image even if the name moves meanwhile.
 */
export function dockerSource(engine: Engine, image: string, size: number | undefined, platform?: Platform, pinned?: string): Source {
  return {
    kind: "engine",
    label: `${engine.bin} save ${platform ? `--platform ${platformText(platform)} ` : ""}${image}`,
    size,
    replayable: true,
    gzipped: false,
    open: () => saveImage(engine, pinned ?? image, platform && platformText(platform)),
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

export function fileSource(path: string, platform?: Platform): Source {
  let size: number;
  try {
    const st = statSync(path);
    // tar-fs packs a symlink as a link: the folder it names is what the user meant.
    if (st.isDirectory()) return ociLayoutSource(realpathSync(path), platform);
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
  const oci =
    kind === "tar"
      ? walking(
          (e) => tornError(plainFile(path, size), e),
          () => ociArchive(path, size, platform),
        )
      : undefined;
  if (oci) return { ...plainFile(path, size), ...oci };
  if (platform) {
    throw inputError(`--platform picks one image out of an OCI index, and --input ${path} is not an OCI archive`, undefined);
  }
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

function plainFile(path: string, size: number): Source {
  return { kind: "file", label: `file ${path}`, size, replayable: true, gzipped: false, file: path, open: () => Bun.file(path).stream() };
}

const TORN_HINT: Record<Source["kind"], string> = {
  engine: "the engine's save ended early: check its free disk space and that 'docker save IMAGE' works on its own",
  file: "the file is cut short or is not an image archive: save it again (docker save -o FILE IMAGE)",
  "oci-layout": "check that the OCI layout folder is complete and readable",
  stdin: "did the command feeding stdin fail? Check its exit status, or save to a file and pass --input FILE",
};

export function tornError(source: Source, e: TornArchive): UploadError {
  return new UploadError("INPUT", `${source.label} is not a complete tar archive: ${e.message}; nothing was built`, {
    hint: TORN_HINT[source.kind],
  });
}
