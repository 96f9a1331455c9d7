import { expect, test } from "bun:test";
import { BadChunking, Dechunker } from "./dechunk.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/** The body and whether it ended, fed as `reads`; or the error's message. */
function feed(reads: string[]): { body: string; done: boolean } | string {
  const d = new Dechunker();
  let body = "";
  try {
    for (const r of reads) body += new TextDecoder().decode(d.push(bytes(r)));
  } catch (e) {
    if (e instanceof BadChunking) return e.message;
    throw e;
  }
  return { body, done: d.done };
}

/** Every way to cut `text` into two reads, and into reads of one byte. */
function cuts(text: string): string[][] {
  const out = [[text], [...text]];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

test.each([
  ["one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", true],
  [
    "sizes of three hex digits",
    `12c\r\n${"a".repeat(300)}\r\n12C\r\n${"b".repeat(300)}\r\n0\r\n\r\n`,
    `${"a".repeat(300)}${"b".repeat(300)}`,
    true,
  ],
  ["sizes in upper and lower case hex", "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n", "0123456789abcdefghijk", true],
  ["chunk extensions, skipped", "5;name=value\r\nhello\r\n3 ; x\r\nabc\r\n0;end\r\n\r\n", "helloabc", true],
  ["a trailer, skipped", "2\r\nhi\r\n0\r\nDigest: x\r\nMore: y\r\n\r\n", "hi", true],
  ["lines that end in a bare LF", "2\nhi\n0\n\n", "hi", true],
  ["data that looks like framing", "7\r\n0\r\n\r\nab\r\n0\r\n\r\n", "0\r\n\r\nab", true],
  ["a body with no last chunk yet: not done", "5\r\nhello\r\n", "hello", false],
  ["a chunk cut in its data: not done", "5\r\nhel", "hel", false],
  ["a last chunk with no trailer's end yet: not done", "2\r\nhi\r\n0\r\n", "hi", false],
])("%s: the body, whole and at every cut", (_what, text, body, done) => {
  for (const reads of cuts(text)) expect(feed(reads)).toEqual({ body, done });
});

test.each([
  ["a size that is not hex", "zz\r\nhello\r\n"],
  ["a size line with nothing in it", "\r\nhello\r\n"],
  ["a size of 14 hex digits", "10000000000000\r\n"],
  ["a size followed by text", "5x\r\nhello\r\n"],
  ["chunk data longer than its size", "5\r\nhello!\r\n0\r\n\r\n"],
  ["a CR alone after a size", "5\rhello\r\n"],
  ["chunk extensions past 16 KiB", `1;${"x".repeat(17 * 1024)}\r\n`],
  ["a trailer past 16 KiB", `0\r\nX: ${"y".repeat(17 * 1024)}\r\n\r\n`],
])("%s: fails as bad chunking, whole and at every cut", (_what, text) => {
  const whole = feed([text]);
  expect(typeof whole).toBe("string");
  for (const reads of cuts(text).slice(0, 40)) expect(feed(reads)).toBe(whole);
});

test("the body's bytes are moved together at the start of the read, which is spent", () => {
  const read = bytes("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  const body = new Dechunker().push(read);
  expect(body.buffer).toBe(read.buffer);
  expect(body.byteOffset).toBe(0);
  expect(new TextDecoder().decode(body)).toBe("abcde");
});

test("bytes after the last chunk are not the body's", () => {
  const d = new Dechunker();
  expect(new TextDecoder().decode(d.push(bytes("1\r\na\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n")))).toBe("a");
  expect(d.done).toBe(true);
  expect(d.push(bytes("more")).byteLength).toBe(0);
});
