/**
 * multipart/form-data framing (RFC 7578) around a streamed file part. The closing
 * boundary is enqueued only after the file stream has ended cleanly, so a source that
 * fails mid-way leaves the server with a body it cannot mistake for a complete one.
 */
export interface FilePart {
  name: string;
  filename: string;
  contentType: string;
  body: ReadableStream<Uint8Array>;
  /** Called when the closing boundary is handed to the socket: from then on the server holds a whole upload. */
  onEnd?: () => void;
}

export interface Multipart {
  contentType: string;
  body: ReadableStream<Uint8Array>;
}

import { repository } from "../lib/reference.ts";
import { pullStream } from "../lib/streams.ts";

/** runtime: the original uploader's form ([UP]); openhands: RemoteRuntimeBuilder's ([OH]). */
export const FORM_SHAPES = ["runtime", "openhands"] as const;
export type FormShape = (typeof FORM_SHAPES)[number];

const encoder = new TextEncoder();

function newBoundary(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `runtime-upload-${Buffer.from(bytes).toString("hex")}`;
}

/** Field names and values go into quoted header parameters; quotes and newlines cannot. */
function quote(s: string): string {
  return s.replace(/[\r\n"]/g, (c) => encodeURIComponent(c));
}

function fieldsPreamble(fields: ReadonlyArray<readonly [string, string]>, file: Omit<FilePart, "body">, boundary: string): string {
  let text = "";
  for (const [name, value] of fields) {
    text += `--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${value}\r\n`;
  }
  text +=
    `--${boundary}\r\nContent-Disposition: form-data; name="${quote(file.name)}"; filename="${quote(file.filename)}"\r\n` +
    `Content-Type: ${file.contentType}\r\n\r\n`;
  return text;
}

function closing(boundary: string): string {
  return `\r\n--${boundary}--\r\n`;
}

export function multipart(fields: ReadonlyArray<readonly [string, string]>, file: FilePart, boundary = newBoundary()): Multipart {
  const reader = file.body.getReader();
  let phase: "preamble" | "file" | "ended" = "preamble";
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: pullStream({
      async next(live) {
        if (phase === "preamble") {
          phase = "file";
          return encoder.encode(fieldsPreamble(fields, file, boundary));
        }
        while (phase === "file") {
          const { done, value } = await reader.read();
          if (!done && value.byteLength === 0) continue;
          if (!done) return value;
          // The file part was cancelled under us (a reset): it did not end, and no closing boundary is owed.
          if (!live()) return undefined;
          phase = "ended";
          file.onEnd?.();
          return encoder.encode(closing(boundary));
        }
        return undefined;
      },
      release: (reason) => reader.cancel(reason).catch(() => {}),
    }),
  };
}

/**
 * The form fields. [UP]: target_image, then bare tags as tags_0, tags_1, …
 * [OH]: target_image, then one repeated `tags` field per full reference.
 */
/** `alsoAs`: full references the [OH] form names the image by too (the [UP] form's tags are bare, on its repository). */
export function formFields(
  image: string,
  tags: readonly string[],
  shape: FormShape = "runtime",
  alsoAs: readonly string[] = [],
): Array<[string, string]> {
  if (shape === "openhands") {
    return [
      ["target_image", image],
      ...tags.map((t): [string, string] => ["tags", `${repository(image)}:${t}`]),
      ...alsoAs.map((r): [string, string] => ["tags", r]),
    ];
  }
  return [["target_image", image], ...tags.map((t, i): [string, string] => [`tags_${i}`, t])];
}

export const FILE_PART = {
  runtime: { name: "context", filename: "image.tar.gz", contentType: "application/gzip" },
  openhands: { name: "context", filename: "context.tar.gz", contentType: "application/octet-stream" },
} as const;
