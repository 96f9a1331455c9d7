/**
 * The tar writer and reader against each other and against GNU tar: every field survives
 * a round trip (long names through pax, names and links past 100 bytes, large ids, latin1
 * bytes, extended attributes); GNU long names and base-256 sizes are read; torn ends and
 * numbers that are not numbers are refused with the walk's words.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../test/helpers.ts";
import { BLOCK, END_OF_ARCHIVE, numeric, padding } from "./block.ts";
import type { TarHeader } from "./header.ts";
import { tarEntries } from "./read.ts";
import { TornArchive } from "./torn-archive.ts";
import { headerLength, tarHeader } from "./write.ts";

const base: TarHeader = {
  path: "f",
  type: "0",
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 0,
  mtime: 1_700_000_000,
  linkpath: "",
  uname: "",
  gname: "",
  devmajor: 0,
  devminor: 0,
  xattrs: [],
};

const streamOf = (...parts: Uint8Array[]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(p);
      c.close();
    },
  });

/** One entry as we write it, its data, and the end of the archive. */
function archiveOf(h: TarHeader, data = new Uint8Array(h.size)): Uint8Array {
  return Buffer.concat([tarHeader(h), data, new Uint8Array(padding(data.byteLength)), new Uint8Array(END_OF_ARCHIVE)]);
}

async function readAll(input: ReadableStream<Uint8Array>): Promise<Array<TarHeader & { data: string }>> {
  const out: Array<TarHeader & { data: string }> = [];
  for await (const e of tarEntries(input)) {
    const parts: Uint8Array[] = [];
    for (let c = await e.read(); c; c = await e.read()) parts.push(c);
    const { read: _read, ...header } = e;
    out.push({ ...header, data: Buffer.concat(parts).toString("latin1") });
  }
  return out;
}

describe("the tar writer and reader", () => {
  const rows: Array<[string, Partial<TarHeader>]> = [
    ["a short file name", { path: "etc/hosts", size: 5 }],
    ["a name of exactly 100 bytes", { path: "n".repeat(100) }],
    ["a 150-byte name that fits ustar's prefix", { path: `${"d".repeat(90)}/${"f".repeat(59)}` }],
    ["a 300-byte name, through pax", { path: `${"a/".repeat(100)}${"x".repeat(100)}` }],
    ["a name of latin1 bytes past ASCII, byte for byte", { path: "caf\xe9/\xff\x80name" }],
    ["a symlink to a 200-byte target", { path: "l", type: "2", linkpath: `/${"t".repeat(199)}` }],
    ["a hard link", { path: "b", type: "1", linkpath: "a" }],
    ["a folder", { path: "dir/", type: "5", mode: 0o755 }],
    ["a setuid file with its owners", { path: "bin/su", mode: 0o4755, uid: 1000, gid: 100, uname: "app", gname: "users", size: 3 }],
    ["ids past ustar's octal (2^21 and up), through pax", { uid: 2_097_152, gid: 70_000_000 }],
    ["a long user name, through pax", { uname: "u".repeat(40) }],
    ["extended attributes, kept as pax records", { xattrs: [["SCHILY.xattr.security.capability", "\x01\x02"]] }],
    ["a device node", { path: "dev/null", type: "3", devmajor: 1, devminor: 3 }],
    ["a time before 1970, through pax", { mtime: -2_146_608_000 }],
  ];
  test.each(rows)("round trip: %s", async (_what, fields) => {
    const h = { ...base, ...fields };
    const data = new Uint8Array(h.size).fill(0x61);
    const bytes = archiveOf(h, data);
    expect(headerLength(h)).toBe(tarHeader(h).byteLength);
    const [e, ...rest] = await readAll(streamOf(bytes));
    expect(rest).toEqual([]);
    expect(e).toEqual({ ...h, data: "a".repeat(h.size) });
  });

  test("the round trip holds whatever the chunk edges (one byte at a time)", async () => {
    const h = { ...base, path: `${"p/".repeat(80)}file`, size: 700, uid: 3_000_000 };
    const bytes = archiveOf(h, new Uint8Array(700).fill(0x62));
    const [e] = await readAll(streamOf(...Array.from(bytes, (b) => new Uint8Array([b]))));
    expect(e?.path).toBe(h.path);
    expect(e?.data).toBe("b".repeat(700));
  });
});

describe("what GNU tar writes is read", () => {
  test("GNU long names and long link targets (L and K headers)", async () => {
    const dir = tempDir("ru-gnu-");
    const long = `${"g".repeat(120)}/${"h".repeat(120)}`;
    mkdirSync(join(dir, "root", "g".repeat(120)), { recursive: true });
    writeFileSync(join(dir, "root", long), "gnu\n");
    const r = Bun.spawnSync(["ln", "-s", `/${"k".repeat(150)}`, join(dir, "root", "link")]);
    expect(r.exitCode).toBe(0);
    const tar = Bun.spawnSync(["tar", "--format=gnu", "-C", join(dir, "root"), "-cf", "-", long, "link"]);
    expect(tar.exitCode).toBe(0);
    const entries = await readAll(streamOf(tar.stdout));
    expect(entries.map((e) => [e.path, e.type, e.linkpath, e.data])).toEqual([
      [long, "0", "", "gnu\n"],
      ["link", "2", `/${"k".repeat(150)}`, ""],
    ]);
  });

  test("a base-256 size field (8 GiB and up) reads as its number", () => {
    const h = new Uint8Array(BLOCK);
    h[124] = 0x80;
    const size = 8 * 1024 ** 3 + 5;
    for (let i = 135, n = size; i > 124; i--, n = Math.floor(n / 256)) h[i] = n % 256;
    expect(numeric(h, 124, 12)).toBe(size);
  });

  test("a base-256 time before 1970 reads as its negative number (two's complement)", () => {
    const h = new Uint8Array(BLOCK).fill(0xff, 136, 148);
    h[147] = 0xfe;
    expect(numeric(h, 136, 12)).toBe(-2);
  });
});

/** One entry behind a pax header of these records, each written "LEN key=value\n" unless given whole. */
function withPax(records: string[], h = base): Uint8Array {
  const body = records
    .map((r) => {
      if (/^\d+ /.test(r)) return r;
      const rest = ` ${r}\n`;
      const digits = String(rest.length + 2).length;
      return `${rest.length + digits}${rest}`;
    })
    .join("");
  const pax = tarHeader({ ...base, path: "PaxHeaders/f", type: "x", size: Buffer.byteLength(body, "latin1") });
  return Buffer.concat([pax, Buffer.from(body, "latin1"), new Uint8Array(padding(body.length)), archiveOf(h)]);
}

describe("pax records, as Go's archive/tar (so docker load) reads them", () => {
  test.each([
    ["a record without its newline", ["11 path=abc"], "a record without its newline"],
    ["a NUL in a path", ["path=a\0b"], "a NUL in path"],
    ["a NUL in a key", ["SCHILY.xattr.a\0b=1"], "a NUL in SCHILY.xattr.a"],
    ["a record without a key", ["=value"], "a record without a key"],
    ["a length past the header", ["99 path=a\n"], "a length that does not fit"],
    ["sparse pairs out of order", ["GNU.sparse.numbytes=5"], "a sparse map out of order"],
  ])("%s is refused", async (_what, records, why) => {
    const error = await readAll(streamOf(withPax(records))).catch((e) => e);
    expect(error).toBeInstanceOf(TornArchive);
    expect((error as Error).message).toContain(why);
  });

  test("a size of 24 digits with leading zeros is read as its number", async () => {
    const [e] = await readAll(streamOf(withPax(["size=000000000000000000000003"], { ...base, size: 3 })));
    expect(e?.size).toBe(3);
  });

  test("a NUL in an extended attribute's value is kept (it is bytes, not a name)", async () => {
    const [e] = await readAll(streamOf(withPax(["SCHILY.xattr.user.x=a\0b"])));
    expect(e?.xattrs).toEqual([["SCHILY.xattr.user.x", "a\0b"]]);
  });
});

describe("a layer's tar may end without the end-of-archive marker", () => {
  const whole = archiveOf({ ...base, size: 3 }, new Uint8Array(3));
  const cut = whole.subarray(0, whole.byteLength - END_OF_ARCHIVE);
  test("read to its last entry where the marker is optional (its bytes are checked against its diff ID)", async () => {
    const names: string[] = [];
    let bytes = 0;
    for await (const e of tarEntries(streamOf(cut), { markerOptional: true, onEnd: (n) => (bytes = n) })) names.push(e.path);
    expect([names, bytes]).toEqual([["f"], cut.byteLength]);
  });
  test("…but not cut inside an entry", async () => {
    const error = await (async () => {
      for await (const _ of tarEntries(streamOf(cut.subarray(0, BLOCK + 1)), { markerOptional: true }));
    })().catch((e) => e);
    expect((error as Error).message).toContain("it ends inside entry f");
  });
});

describe("torn archives and numbers that are not numbers", () => {
  const file = { ...base, size: 1000 };
  const whole = archiveOf(file, new Uint8Array(1000));
  const rows: Array<[string, Uint8Array, string]> = [
    ["cut inside an entry's data", whole.subarray(0, BLOCK + 600), "it ends inside entry f (600 of 1000 bytes)"],
    ["cut inside a header", whole.subarray(0, 300), "it ends inside a header"],
    ["no end-of-archive marker", whole.subarray(0, whole.byteLength - END_OF_ARCHIVE), "without the end-of-archive marker"],
    ["nothing at all", new Uint8Array(0), "it is empty"],
    [
      "a header claiming 8 GiB over a few bytes",
      Buffer.concat([tarHeader({ ...base, size: 8 * 1024 ** 3 }), new Uint8Array(10)]),
      "it ends inside entry f (10 of 8589934592 bytes)",
    ],
  ];
  test.each(rows)("%s is refused", async (_what, bytes, message) => {
    const error = await readAll(streamOf(bytes)).catch((e) => e);
    expect(error).toBeInstanceOf(TornArchive);
    expect((error as Error).message).toContain(message);
  });

  test.each([
    ["uid", "abc"],
    ["gid", "-1"],
    ["mtime", "1e400"],
    ["size", "12345678901234567890"],
  ])("a pax %s of %p is refused, never read as NaN", async (key, value) => {
    const record = ` ${key}=${value}\n`;
    const body = `${record.length + String(record.length + 2).length}${record}`;
    const pax = tarHeader({ ...base, path: "PaxHeaders/f", type: "x", size: body.length });
    const bytes = Buffer.concat([pax, Buffer.from(body), new Uint8Array(padding(body.length)), archiveOf(base)]);
    const error = await readAll(streamOf(bytes)).catch((e) => e);
    expect((error as Error).message).toContain(`a pax header's ${key} is not a number that fits`);
  });
});
