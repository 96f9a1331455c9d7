/**
 * A streaming multipart/form-data reader for the test server: parts are handed to a
 * sink chunk by chunk, so an upload of any size passes through in bounded memory.
 */
export interface PartHeaders {
  name: string;
  filename: string | undefined;
  contentType: string | undefined;
}

export interface PartSink {
  write(chunk: Uint8Array): Promise<void> | void;
  end(): Promise<void> | void;
}

export class IncompleteBody extends Error {}

function parseHeaders(text: string): PartHeaders {
  const headers = new Map<string, string>();
  for (const line of text.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const disp = headers.get("content-disposition") ?? "";
  const param = (key: string) => new RegExp(`;\\s*${key}="([^"]*)"`, "i").exec(disp)?.[1];
  return { name: param("name") ?? "", filename: param("filename"), contentType: headers.get("content-type") };
}

export function boundaryOf(contentType: string | null): string | undefined {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? "");
  return m?.[1] ?? m?.[2];
}

export async function readForm(body: ReadableStream<Uint8Array>, boundary: string, onPart: (h: PartHeaders) => PartSink): Promise<void> {
  const first = Buffer.from(`--${boundary}`);
  const delim = Buffer.from(`\r\n--${boundary}`);
  let buf = Buffer.alloc(0);
  let state: "preamble" | "after-delim" | "headers" | "body" | "done" = "preamble";
  let sink: PartSink | undefined;

  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : Buffer.from(chunk);
    for (let progressed = true; progressed && state !== "done"; ) {
      progressed = false;
      if (state === "preamble") {
        const i = buf.indexOf(first);
        if (i >= 0) {
          buf = buf.subarray(i + first.length);
          state = "after-delim";
          progressed = true;
        }
      } else if (state === "after-delim") {
        if (buf.length >= 2) {
          const two = buf.subarray(0, 2).toString("latin1");
          buf = buf.subarray(2);
          state = two === "--" ? "done" : "headers";
          progressed = true;
        }
      } else if (state === "headers") {
        const i = buf.indexOf("\r\n\r\n");
        if (i >= 0) {
          sink = onPart(parseHeaders(buf.subarray(0, i).toString("utf8")));
          buf = buf.subarray(i + 4);
          state = "body";
          progressed = true;
        }
      } else if (state === "body") {
        const i = buf.indexOf(delim);
        const end = i >= 0 ? i : Math.max(0, buf.length - delim.length + 1);
        if (end > 0) await sink?.write(buf.subarray(0, end));
        // Copy what is kept, so the large chunk it came from can be collected.
        buf = Buffer.from(buf.subarray(i >= 0 ? i + delim.length : end));
        if (i >= 0) {
          await sink?.end();
          sink = undefined;
          state = "after-delim";
          progressed = true;
        }
      }
    }
  }
  if (state !== "done") throw new IncompleteBody(`multipart body ended in state ${state}, before its closing boundary`);
}
