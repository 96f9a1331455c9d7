/** --output FILE: the body a dry run would send, written whole or not at all. */
import { randomBytes } from "node:crypto";
import { constants, openSync, renameSync, rmSync } from "node:fs";
import type { FileSink } from "bun";
import { UploadError } from "../errors.ts";

/**
 * The file being written, beside the one it becomes: a name no one can guess, created
 * only if nothing (a planted symlink least of all) is there yet.
 */
const PARTIAL = `.partial-${process.pid}-${randomBytes(6).toString("hex")}`;
const partialOf = (path: string) => `${path}${PARTIAL}`;

/** Tees the stream into a file, whole or not at all: it is named only once the last byte is in. */
export function writeAlong(input: ReadableStream<Uint8Array>, path: string): ReadableStream<Uint8Array> {
  const partial = partialOf(path);
  let sink: FileSink | undefined;
  const fail = (e: unknown) =>
    new UploadError("INPUT", `cannot write --output ${path}: ${(e as Error)?.message ?? e}`, {
      hint: "check that its folder exists and is writable",
    });
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      start() {
        try {
          const fd = openSync(partial, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
          sink = Bun.file(fd).writer();
        } catch (e) {
          throw fail(e);
        }
      },
      async transform(chunk, controller) {
        // A copy: the writer may still hold it when the chunk is spent and its buffer refilled.
        await sink?.write(chunk.slice());
        controller.enqueue(chunk);
      },
      async flush() {
        try {
          await sink?.end();
          renameSync(partial, path);
        } catch (e) {
          throw fail(e);
        }
      },
    }),
  );
}

/** What a failed run leaves of the file: nothing. */
export function abandonOutput(path: string): void {
  rmSync(partialOf(path), { force: true });
}
