import { afterAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Socket } from "bun";
import { tempDir, until } from "../../test/helpers.ts";
import { AnswerBroken, type BodyReader, parseHead, socketGet } from "./socket-get.ts";

const dir = tempDir("ru-socket-get-");
const text = (s: string) => new TextEncoder().encode(s);

/**
 * What this test's server does with a request: the writes it makes, 5 ms apart so that each
 * comes as a read of its own (on a busy host two may come as one: the body is the same, and
 * dechunk.test.ts cuts the coding at every byte), then whether it closes.
 */
interface Answer {
  reads: Array<string | Uint8Array>;
  close: boolean;
}

let answer: Answer = { reads: [], close: true };
/** The request lines the server got, and whether the client closed each connection. */
const requests: Array<{ line: string; closed: boolean }> = [];
const path = join(dir, "engine.sock");
const server = Bun.listen<{ seen?: { line: string; closed: boolean } }>({
  unix: path,
  socket: {
    data(s, data) {
      if (s.data?.seen) return;
      s.data = { seen: { line: data.toString().split("\r\n")[0] ?? "", closed: false } };
      requests.push(s.data.seen as { line: string; closed: boolean });
      const { reads, close } = answer;
      (async () => {
        for (const r of reads) {
          s.write(r);
          s.flush();
          await Bun.sleep(5);
        }
        if (close) s.end();
      })();
    },
    close(s) {
      if (s.data?.seen) s.data.seen.closed = true;
    },
  },
});
afterAll(() => server.stop(true));

async function drain(body: BodyReader): Promise<string> {
  let out = "";
  for (;;) {
    const { done, value } = await body.read();
    if (done) return out;
    expect(value?.byteOffset).toBe(0);
    expect(value?.byteLength).toBe(value?.buffer.byteLength);
    out += new TextDecoder().decode(value);
  }
}

const HEAD = "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n";

test.each([
  [
    "chunked, in reads cut anywhere",
    [`${HEAD}Transfer-Encoding: chunked\r\n\r\n5\r\nhel`, "lo\r\n6\r\n", " world\r\n0\r", "\n\r\n"],
    false,
    "hello world",
  ],
  ["chunked, the head and the body in one read", [`${HEAD}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`], false, "abc"],
  ["a Content-Length, with bytes after it that are not the body's", [`${HEAD}Content-Length: 4\r\n\r\nab`, "cdXYZ"], false, "abcd"],
  ["a Content-Length of 0", [`${HEAD}Content-Length: 0\r\n\r\n`], false, ""],
  ["no length: the body ends with the connection", [`${HEAD}\r\nabc`, "def"], true, "abcdef"],
  ["the head in reads of its own", ["HTTP/1.1 200", ` OK\r\nTransfer-Encoding: chunked\r`, "\n\r\n2\r\nhi\r\n0\r\n\r\n"], false, "hi"],
])("an answer %s: its status and body", async (_what, reads, close, body) => {
  answer = { reads, close };
  const got = await socketGet(path, "/images/get?names=a%3A1", AbortSignal.timeout(10_000));
  expect(got?.status).toBe(200);
  expect(await drain(got?.body as BodyReader)).toBe(body);
  expect(requests.at(-1)?.line).toBe("GET /images/get?names=a%3A1 HTTP/1.1");
});

test.each([
  [
    "chunked, cut before its last chunk",
    [`${HEAD}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`],
    "the engine closed its connection mid-export",
  ],
  ["of a Content-Length, cut short", [`${HEAD}Content-Length: 10\r\n\r\nhello`], "the engine closed its connection mid-export"],
  [
    "whose chunk sizes are not hex",
    [`${HEAD}Transfer-Encoding: chunked\r\n\r\nhello\r\n`],
    "the engine's answer broke HTTP's chunked coding (a chunk size that is not hex, or too long)",
  ],
])("an answer %s: a read fails, saying so, and never ends as a whole body", async (_what, reads, said) => {
  answer = { reads, close: true };
  const got = await socketGet(path, "/images/get", AbortSignal.timeout(10_000));
  const e = await drain(got?.body as BodyReader).catch((e) => e);
  expect(e).toBeInstanceOf(AnswerBroken);
  expect((e as Error).message).toBe(said);
});

test.each([
  ["something that is not HTTP", ["SSH-2.0-OpenSSH_9.6\r\n\r\n"]],
  ["a head larger than 64 KiB", [`${HEAD}X: ${"a".repeat(70 * 1024)}`]],
  ["a connection closed before its head ends", [HEAD]],
  ["two Content-Lengths that disagree", [`${HEAD}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcd`]],
])("%s: undefined (nothing answered as HTTP: the caller goes the CLI's way)", async (_what, reads) => {
  answer = { reads, close: true };
  expect(await socketGet(path, "/images/get", AbortSignal.timeout(10_000))).toBeUndefined();
});

test("no socket there: undefined", async () => {
  expect(await socketGet(join(dir, "none.sock"), "/images/get", AbortSignal.timeout(10_000))).toBeUndefined();
});

test("an abort before the head: the promise rejects with its reason, and the connection is closed", async () => {
  answer = { reads: [], close: false };
  const abort = new AbortController();
  const got = socketGet(path, "/images/get", abort.signal);
  const seen = await until(() => (requests.at(-1)?.closed === false ? requests.at(-1) : undefined), "the request");
  abort.abort(new Error("stopped by the test"));
  expect(await got.catch((e) => (e as Error).message)).toBe("stopped by the test");
  await until(() => seen.closed, "the connection to close");
});

test("an abort mid-body: a waiting read fails with its reason, and the connection is closed", async () => {
  answer = { reads: [`${HEAD}Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n`], close: false };
  const abort = new AbortController();
  const got = (await socketGet(path, "/images/get", abort.signal)) as { body: BodyReader };
  const seen = requests.at(-1) as { closed: boolean };
  expect(new TextDecoder().decode((await got.body.read()).value)).toBe("hi");
  const waiting = got.body.read().catch((e) => (e as Error).message);
  abort.abort(new Error("stopped by the test"));
  expect(await waiting).toBe("stopped by the test");
  await until(() => seen.closed, "the connection to close");
});

/** `data` as a body of 32 KiB chunks, as dockerd writes its export. */
function chunked(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < data.byteLength; at += 0x8000) parts.push(text("8000\r\n"), data.subarray(at, at + 0x8000), text("\r\n"));
  parts.push(text("0\r\n\r\n"));
  return Buffer.concat(parts);
}

test.each([
  ["of a Content-Length", (data: Uint8Array) => Buffer.concat([text(`${HEAD}Content-Length: ${data.byteLength}\r\n\r\n`), data])],
  ["chunked", (data: Uint8Array) => Buffer.concat([text(`${HEAD}Transfer-Encoding: chunked\r\n\r\n`), chunked(data)])],
])(
  "a body %s not read: the socket stops being read once 1 MiB waits, and every byte comes once it is",
  async (_what, answerOf) => {
    const data = new Uint8Array(48 * 1024 * 1024);
    for (let at = 0; at < data.byteLength; at += 1024 * 1024) crypto.getRandomValues(data.subarray(at, at + 64 * 1024));
    const wire = answerOf(data);
    let written = 0;
    let blocked = false;
    const writeOn = (s: Socket) => {
      while (written < wire.byteLength) {
        const n = s.write(wire.subarray(written, Math.min(wire.byteLength, written + 256 * 1024)));
        written += n;
        blocked = n === 0;
        if (n === 0) return;
      }
      s.end();
    };
    const big = Bun.listen({ unix: join(dir, "big.sock"), socket: { data: writeOn, drain: writeOn } });
    try {
      const got = (await socketGet(join(dir, "big.sock"), "/images/get", AbortSignal.timeout(30_000))) as { body: BodyReader };
      await until(() => blocked, "the server's writes to block");
      // A reader that did not stop reading lets the server write on at every turn of the event loop.
      let still = 0;
      for (let at = written; still < 200 && written < wire.byteLength; still = written === at ? still + 1 : 0, at = written) {
        await new Promise((r) => setImmediate(r));
      }
      expect(written).toBeLessThan(8 * 1024 * 1024);
      const hash = createHash("sha256");
      for (;;) {
        const { done, value } = await got.body.read();
        if (done) break;
        hash.update(value as Uint8Array);
      }
      expect(hash.digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    } finally {
      big.stop(true);
    }
  },
  60_000,
);

test.each([
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked", "chunked"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5", "chunked"],
  ["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip", "close"],
  ["HTTP/1.0 404 Not Found\r\nContent-Length: 7, 7", 7],
  ["HTTP/1.1 204 No Content", 0],
  ["HTTP/1.1 200 OK", "close"],
  ["HTTP/1.1 100 Continue", undefined],
  ["HTTP/2 200", undefined],
  ["HTTP/1.1 200 OK\r\nContent-Length: -1", undefined],
  ["HTTP/1.1 200 OK\r\nno colon", undefined],
])("a head %j: framing %p", (head, framing) => {
  const parsed = parseHead(head);
  const got = parsed && (parsed.framing === "close" ? "close" : "chunked" in parsed.framing ? "chunked" : parsed.framing.left);
  expect(got).toBe(framing);
});
