import { statSync } from "node:fs";
import { type Engine, saveImage } from "./docker.ts";
import { UploadError } from "./errors.ts";

/**
 * Where the tar bytes come from. A factory rather than a stream: a retried upload needs
 * the bytes again from the start, and only some sources can give them twice.
 */
export interface Source {
  /** Human description for messages: "docker save nginx", "file image.tar", "stdin". */
  label: string;
  /** Expected uncompressed size in bytes, when known (for progress and ETA). */
  size: number | undefined;
  replayable: boolean;
  open(): ReadableStream<Uint8Array>;
}

export function dockerSource(engine: Engine, image: string, size: number | undefined): Source {
  return {
    label: `${engine.bin} save ${image}`,
    size,
    replayable: true,
    open: () => saveImage(engine, image),
  };
}

export function fileSource(path: string): Source {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error("not a regular file");
    size = st.size;
  } catch (cause) {
    throw new UploadError("INPUT", `cannot read --input ${path}: ${(cause as Error).message}`, {
      hint: "pass a docker save archive (docker save -o image.tar IMAGE), or - for stdin",
      cause,
    });
  }
  return {
    label: `file ${path}`,
    size,
    replayable: true,
    open: () => Bun.file(path).stream(),
  };
}

export function stdinSource(): Source {
  let opened = false;
  return {
    label: "stdin",
    size: undefined,
    replayable: false,
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
