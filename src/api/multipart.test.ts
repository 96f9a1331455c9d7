import { describe, expect, test } from "bun:test";
import { boundaryOf, IncompleteBody, readForm } from "../../test/form-parser.ts";
import { until } from "../../test/helpers.ts";
import { formFields, multipart } from "./multipart.ts";

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(c) {
      const next = chunks.shift();
      if (next) c.enqueue(next);
      else c.close();
    },
  });
}

async function bytes(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** Re-splits a body at a fixed size, so delimiters straddle chunk edges. */
function resplit(body: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < body.length; i += size) out.push(body.subarray(i, i + size));
  return out;
}

async function parse(body: Uint8Array, contentType: string, chunk: number) {
  const parts: Record<string, { filename?: string; contentType?: string; data: Buffer }> = {};
  await readForm(streamOf(resplit(body, chunk)), boundaryOf(contentType) as string, (h) => {
    const bufs: Buffer[] = [];
    return {
      write: (c) => {
        bufs.push(Buffer.from(c));
      },
      end: () => {
        parts[h.name] = { filename: h.filename, contentType: h.contentType, data: Buffer.concat(bufs) };
      },
    };
  });
  return parts;
}

describe("multipart framing", () => {
  const payload = crypto.getRandomValues(new Uint8Array(200_000));
  // A payload holding CRLF-- sequences must not be mistaken for a delimiter.
  payload.set(new TextEncoder().encode("\r\n--\r\n--runtime-upload"), 1000);

  test.each([1, 7, 4096, 1 << 20])("parses back identically when split every %i bytes", async (chunk) => {
    const form = multipart(formFields("img:1", ["latest", "stable"]), {
      name: "context",
      filename: "image.tar.gz",
      contentType: "application/gzip",
      body: streamOf(resplit(payload, 3000)),
    });
    const parts = await parse(await bytes(form.body), form.contentType, chunk);
    expect(Object.keys(parts)).toEqual(["target_image", "tags_0", "tags_1", "context"]);
    expect(parts.target_image?.data.toString()).toBe("img:1");
    expect(parts.tags_1?.data.toString()).toBe("stable");
    expect(parts.context?.filename).toBe("image.tar.gz");
    expect(parts.context?.contentType).toBe("application/gzip");
    expect(Buffer.compare(parts.context?.data as Buffer, Buffer.from(payload))).toBe(0);
  });

  test("an empty file part is framed correctly", async () => {
    const form = multipart([["target_image", "x"]], {
      name: "context",
      filename: "f",
      contentType: "application/gzip",
      body: streamOf([]),
    });
    const parts = await parse(await bytes(form.body), form.contentType, 5);
    expect(parts.context?.data.length).toBe(0);
  });

  test("a failing file stream errors the body before the closing boundary", async () => {
    let sent = "";
    const failing = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array([1, 2, 3]));
      },
      pull(c) {
        c.error(new Error("docker save died"));
      },
    });
    const boundary = "test-boundary-1";
    const form = multipart([], { name: "context", filename: "f", contentType: "application/gzip", body: failing }, boundary);
    const reader = form.body.getReader();
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          sent += Buffer.from(value).toString("latin1");
        }
      })(),
    ).rejects.toThrow("docker save died");
    // The part's header and its first bytes went out; the closing boundary never did.
    expect(sent).toContain(`--${boundary}\r\nContent-Disposition: form-data; name="context"; filename="f"`);
    expect(sent.endsWith("\x01\x02\x03")).toBe(true);
    expect(sent).not.toContain(`--${boundary}--`);
  });

  test("a body cancelled mid-file (a reset) does not count as sent whole: no onEnd", async () => {
    let ended = false;
    let waiting = false;
    const endless = new ReadableStream<Uint8Array>({
      pull: () => {
        waiting = true;
        return new Promise<void>(() => {});
      },
    });
    const form = multipart([], { name: "context", filename: "f", contentType: "x", body: endless, onEnd: () => (ended = true) });
    const reader = form.body.getReader();
    await reader.read(); // the preamble
    const pending = reader.read(); // waits on the file part
    await until(() => waiting, "the file part to be read");
    await reader.cancel(new Error("connection reset"));
    expect(await pending).toEqual({ done: true, value: undefined });
    // The cancelled inner read settles in promise jobs alone (no I/O, no timer): all of them
    // have run by the next macrotask, so this is a settled state, not a wait for one.
    await new Promise((resolve) => setImmediate(resolve));
    expect(ended).toBe(false);
  });

  test("the parser refuses a body cut before its closing boundary", async () => {
    const form = multipart([["a", "b"]], { name: "context", filename: "f", contentType: "x", body: streamOf([new Uint8Array(10)]) });
    const body = await bytes(form.body);
    await expect(parse(body.subarray(0, body.length - 10), form.contentType, 64)).rejects.toBeInstanceOf(IncompleteBody);
  });

  test("quotes and newlines in names cannot break the headers", async () => {
    const form = multipart([['we"ird\r\nname', "v"]], { name: "context", filename: 'a"b.tgz', contentType: "x", body: streamOf([]) });
    const text = Buffer.from(await bytes(form.body)).toString();
    expect(text).toContain('name="we%22ird%0D%0Aname"');
    expect(text).toContain('filename="a%22b.tgz"');
  });
});
