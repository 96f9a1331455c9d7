/** Standard input as a source: read once, so an upload from it cannot be retried. */
import { UploadError } from "../errors.ts";
import type { Source } from "./source.ts";

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
