/**
 * Tar headers as we write them: ustar where the fields fit, a pax header before it where
 * they do not (long names and links, large sizes and ids, extended attributes). Strings
 * are latin1, a character a byte, as tar-read gives them.
 */
import { BLOCK, padding } from "./block.ts";
import type { TarHeader } from "./header.ts";

const MAX_OCTAL_8 = 0o7777777;
const MAX_OCTAL_12 = 0o77777777777;

export type HeaderFields = Omit<TarHeader, "xattrs"> & { xattrs?: Array<[string, string]> };

/** Where a path fits ustar's name and prefix fields, or undefined if it needs pax. */
function splitName(path: string): { name: string; prefix: string } | undefined {
  if (path.length <= 100) return { name: path, prefix: "" };
  for (let i = path.indexOf("/"); i >= 0 && i <= 155; i = path.indexOf("/", i + 1)) {
    const name = path.slice(i + 1);
    if (name.length > 0 && name.length <= 100) return { name, prefix: path.slice(0, i) };
  }
  return undefined;
}

function paxBody(records: Array<[string, string]>): Uint8Array {
  let text = "";
  for (const [key, value] of records) {
    const rest = ` ${key}=${value}\n`;
    // The length counts its own digits: settle it by trying the next size up.
    const digits = String(rest.length).length;
    let len = rest.length + digits;
    if (String(len).length !== digits) len++;
    text += `${len}${rest}`;
  }
  return Buffer.from(text, "latin1");
}

function paxNeeded(f: HeaderFields): Array<[string, string]> {
  const records: Array<[string, string]> = [];
  if (!splitName(f.path)) records.push(["path", f.path]);
  if (f.linkpath.length > 100) records.push(["linkpath", f.linkpath]);
  if (f.size > MAX_OCTAL_12) records.push(["size", String(f.size)]);
  // Octal has no sign: a time before 1970 (or past 2242) goes as a pax record, as Go writes it.
  if (f.mtime < 0 || f.mtime > MAX_OCTAL_12) records.push(["mtime", String(f.mtime)]);
  if (f.uid > MAX_OCTAL_8) records.push(["uid", String(f.uid)]);
  if (f.gid > MAX_OCTAL_8) records.push(["gid", String(f.gid)]);
  if (f.uname.length > 32) records.push(["uname", f.uname]);
  if (f.gname.length > 32) records.push(["gname", f.gname]);
  return [...records, ...(f.xattrs ?? [])];
}

function block(f: HeaderFields, type: string, size: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const put = (text: string, at: number, len: number) => {
    for (let i = 0; i < len && i < text.length; i++) h[at + i] = text.charCodeAt(i) & 0xff;
  };
  const num = (n: number, at: number, len: number, max: number) =>
    put(
      `${Math.min(Math.max(0, Math.floor(n)), max)
        .toString(8)
        .padStart(len - 1, "0")}\0`,
      at,
      len,
    );
  const split = splitName(f.path) ?? { name: f.path.slice(0, 100), prefix: "" };
  put(split.name, 0, 100);
  num(f.mode, 100, 8, MAX_OCTAL_8);
  num(f.uid, 108, 8, MAX_OCTAL_8);
  num(f.gid, 116, 8, MAX_OCTAL_8);
  num(size, 124, 12, MAX_OCTAL_12);
  num(f.mtime, 136, 12, MAX_OCTAL_12);
  put(type, 156, 1);
  put(f.linkpath, 157, 100);
  put("ustar\x0000", 257, 8);
  put(f.uname, 265, 32);
  put(f.gname, 297, 32);
  num(f.devmajor, 329, 8, MAX_OCTAL_8);
  num(f.devminor, 337, 8, MAX_OCTAL_8);
  put(split.prefix, 345, 155);
  h.fill(32, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i] as number;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return h;
}

/** The header blocks of one entry: a pax header first where ustar cannot say it all. */
export function tarHeader(f: HeaderFields): Uint8Array {
  const records = paxNeeded(f);
  const main = block(f, f.type, f.size);
  if (records.length === 0) return main;
  const body = paxBody(records);
  const padded = body.byteLength + padding(body.byteLength);
  const out = new Uint8Array(BLOCK + padded + BLOCK);
  const base = f.path.replace(/\/$/, "").split("/").pop() ?? "";
  out.set(block({ ...f, path: `PaxHeaders/${base.slice(0, 80)}`, linkpath: "", mode: 0o644 }, "x", body.byteLength));
  out.set(body, BLOCK);
  out.set(main, BLOCK + padded);
  return out;
}

/** How many bytes tarHeader writes for these fields, without writing them. */
export function headerLength(f: HeaderFields): number {
  const records = paxNeeded(f);
  if (records.length === 0) return BLOCK;
  const body = paxBody(records).byteLength;
  return 2 * BLOCK + body + padding(body);
}

/** A regular file entry we write ourselves (the Dockerfile, the root filesystem's tar). */
export function fileEntryHeader(path: string, size: number): Uint8Array {
  return tarHeader({
    path,
    type: "0",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size,
    mtime: 0,
    linkpath: "",
    uname: "",
    gname: "",
    devmajor: 0,
    devminor: 0,
  });
}
