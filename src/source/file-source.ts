/**
 * A file the user handed us (--input FILE): a docker save or OCI archive, gzip'd or not,
 * or an OCI layout folder; what its first bytes are decides how it is read.
 */
import { realpathSync, statSync } from "node:fs";
import { UploadError } from "../errors.ts";
import { readRange } from "../lib/pread.ts";
import { BLOCK } from "../tar/block.ts";
import { walking } from "../tar/check.ts";
import { sniff } from "../tar/sniff.ts";
import type { Platform } from "./oci-index.ts";
import { ociArchive, ociLayoutSource } from "./oci-layout.ts";
import { type Source, tornError } from "./source.ts";

const INPUT_HINT = "pass a docker save or OCI archive (docker save -o image.tar IMAGE), an OCI layout folder, or - for stdin";

function inputError(message: string, cause?: unknown): UploadError {
  return new UploadError("INPUT", message, { hint: INPUT_HINT, cause });
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
  const kind = sniff(readRange(path, 0, BLOCK));
  if (kind !== "tar" && kind !== "gzip") throw inputError(`--input ${path} is neither a tar archive nor gzip`);
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

function plainFile(path: string, size: number): Source {
  return { kind: "file", label: `file ${path}`, size, replayable: true, gzipped: false, file: path, open: () => Bun.file(path).stream() };
}
