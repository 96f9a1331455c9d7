/** The one pax parser. */
import { TornArchive } from "./torn-archive.ts";

/** The keys whose values are names: a NUL in one would cut the name short on the next reader. */
const NAMES = new Set(["path", "linkpath", "uname", "gname"]);

/** GNU sparse 0.0 writes its map as repeated pairs; they are read as 0.1's one list, as Go reads them. */
export const SPARSE_MAP = "GNU.sparse.map";

/**
 * pax records: "LEN key=value\n", LEN counting the whole record, as Go's archive/tar (so
 * docker load) reads them: a record without its newline, key or "=", or a NUL in a key or
 * a name, makes the header malformed. Repeated keys: the last wins.
 */
export function paxRecords(body: Uint8Array): Map<string, string> {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("latin1");
  const out = new Map<string, string>();
  const sparse: string[] = [];
  let at = 0;
  while (at < text.length) {
    const malformed = (why: string) => new TornArchive(`a pax header is malformed near byte ${at} (${why})`);
    const space = text.indexOf(" ", at);
    if (space < 0) throw malformed("no length");
    const digits = text.slice(at, space);
    const len = /^\d{1,7}$/.test(digits) ? Number(digits) : Number.NaN;
    if (!(len >= 5) || at + len > text.length || space + 1 >= at + len) throw malformed("a length that does not fit");
    if (text[at + len - 1] !== "\n") throw malformed("a record without its newline");
    const record = text.slice(space + 1, at + len - 1);
    const eq = record.indexOf("=");
    if (eq <= 0) throw malformed("a record without a key");
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key.includes("\0") || (NAMES.has(key) && value.includes("\0"))) throw malformed(`a NUL in ${key}`);
    if (key === "GNU.sparse.offset" || key === "GNU.sparse.numbytes") {
      const expected = sparse.length % 2 === 0 ? "GNU.sparse.offset" : "GNU.sparse.numbytes";
      if (key !== expected || value.includes(",")) throw malformed("a sparse map out of order");
      sparse.push(value);
    } else out.set(key, value);
    at += len;
  }
  if (sparse.length > 0) out.set(SPARSE_MAP, sparse.join(","));
  return out;
}

/** A pax decimal: digits (leading zeros allowed), a sign where `signed`; undefined where it is not one, or too large to be exact. */
export function paxInteger(text: string, signed = false): number | undefined {
  if (!(signed ? /^-?\d+$/ : /^\d+$/).test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}
