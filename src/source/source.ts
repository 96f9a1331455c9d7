/**
 * The source stage's one contract: a factory of the image's tar bytes, and how a torn
 * archive is worded for each kind of source. Every source module builds one of these.
 */
import { UploadError } from "../errors.ts";
import { TornArchive } from "../tar/torn-archive.ts";

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
  /** What the user should know about what is sent (several platforms, say), each said once in a run. */
  notes?: readonly string[];
  open(): ReadableStream<Uint8Array>;
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

/** A torn archive in the source's words; anything else as it is. */
export function tornIn(source: Source): (e: unknown) => unknown {
  return (e) => (e instanceof TornArchive ? tornError(source, e) : e);
}
