/**
 * The one reading of a tar header: its block and the metadata before it (pax records, GNU
 * long names) folded into what the entry is, as Go's archive/tar (so docker load) reads it.
 */
import { headerOnly, latin1, numeric } from "./block.ts";
import { paxInteger, SPARSE_MAP } from "./pax.ts";
import { listedMap, type SparseMap } from "./sparse.ts";
import { TornArchive } from "./torn-archive.ts";

export interface TarHeader {
  path: string;
  /** The typeflag: "0" a file, "1" a hard link, "2" a symlink, "5" a folder, … ("\0" and "7" read as "0", a V7 folder and GNU's "D" as "5"). */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  /** The file's size as it reads back (a sparse file's with its holes). */
  size: number;
  mtime: number;
  linkpath: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** pax records kept as they came: extended attributes (file capabilities among them). */
  xattrs: Array<[string, string]>;
}

/** What the metadata headers before an entry said. */
export interface Pending {
  pax: Map<string, string>;
  longName?: string;
  longLink?: string;
}

export interface DecodedHeader extends TarHeader {
  /** Bytes of data that follow the header in the archive (before padding). */
  stored: number;
  /** A sparse file: its map, or "in-data" where the map heads the stored data (PAX 1.0). */
  sparse?: SparseMap | "in-data";
}

const GNU = "ustar  \0";

function magic(h: Uint8Array): string {
  return Buffer.from(h.buffer, h.byteOffset + 257, 8).toString("latin1");
}

/** Whether the header is old GNU's, the only one whose sparse map (type S) can be read. */
export function isGnuHeader(h: Uint8Array): boolean {
  return magic(h) === GNU;
}

/**
 * Go before 1.8 wrote a ustar prefix into a GNU header, where GNU keeps atime and ctime: a
 * GNU header whose times are not numbers but whose field is ASCII has that prefix (Go reads it so).
 */
function goPrefix(h: Uint8Array): string {
  const time = (at: number) => h[at] === 0 || numeric(h, at, 12) !== undefined;
  if (time(345) && time(357)) return "";
  const text = latin1(h, 345, 155);
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return "";
  return text;
}

/** A pax time: seconds, a sign and a fraction allowed; whole seconds kept (before 1970 too). */
function paxTime(text: string): number | undefined {
  if (!/^-?\d+(\.\d*)?$/.test(text)) return undefined;
  const n = Math.floor(Number(text));
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The entry a header block describes, `pending` folded in. `sparseMap` is the old GNU map
 * the walk gathered from the header and its extension blocks (type S).
 */
export function decodeHeader(h: Uint8Array, pending: Pending, sparseMap?: SparseMap): DecodedHeader {
  const raw = String.fromCharCode(h[156] as number);
  const m = magic(h);
  const ustar = m.startsWith("ustar\0");
  const v7 = !ustar && m !== GNU;
  // star's prefix is shorter: its last 24 bytes hold times, and "tar\0" ends the block.
  const star = ustar && latin1(h, 508, 4) === "tar";
  const prefix = ustar ? latin1(h, 345, star ? 131 : 155) : m === GNU ? goPrefix(h) : "";
  const ownName = latin1(h, 0, 100);
  const name = prefix ? `${prefix}/${ownName}` : ownName;
  const num = (at: number, len: number) => {
    const n = numeric(h, at, len);
    if (n === undefined) throw new TornArchive(`the header of ${name} has a number field that is not a number`);
    return n;
  };
  const { pax } = pending;
  const paxNum = (key: string, fallback: number, parse: (t: string) => number | undefined = paxInteger) => {
    const text = pax.get(key);
    // An empty record keeps the header's value, as Go reads it.
    if (text === undefined || text === "") return fallback;
    const n = parse(text);
    if (n === undefined) throw new TornArchive(`a pax header's ${key} is not a number that fits: ${JSON.stringify(text.slice(0, 40))}`);
    return n;
  };
  const paxText = (key: string, fallback: string) => pax.get(key) || fallback;
  const paxSparse = raw === "S" ? undefined : paxSparseVersion(pax);
  // Go's order: pax path, then a GNU long name (what a V7 folder is told by), then a PAX sparse file's own name.
  const named = pending.longName || paxText("path", name);
  const path = (paxSparse && pax.get("GNU.sparse.name")) || named;
  const size = paxNum("size", num(124, 12));
  if (size < 0) throw new TornArchive(`entry ${path} has a negative size`);
  // As Go reads it: a V7 entry whose name ends in "/" is a folder; what it reads decides what is stored.
  const goType = raw === "\0" ? (named.endsWith("/") ? "5" : "0") : raw;
  if ((raw === "S" || paxSparse) && headerOnly(goType))
    throw new TornArchive(`entry ${path} is a sparse ${goType === "5" ? "folder" : "link"}, which no tar writes`);
  const header: DecodedHeader = {
    path,
    // A sparse file and "7" are files; GNU's dump folder lists its contents as data, and is a folder all the same.
    type: raw === "S" || paxSparse || goType === "7" ? "0" : goType === "D" ? "5" : goType,
    mode: num(100, 8) & 0o7777,
    uid: paxNum("uid", num(108, 8)),
    gid: paxNum("gid", num(116, 8)),
    size,
    mtime: paxNum("mtime", num(136, 12), paxTime),
    linkpath: pending.longLink || paxText("linkpath", latin1(h, 157, 100)),
    uname: paxText("uname", v7 ? "" : latin1(h, 265, 32)),
    gname: paxText("gname", v7 ? "" : latin1(h, 297, 32)),
    devmajor: v7 ? 0 : num(329, 8),
    devminor: v7 ? 0 : num(337, 8),
    xattrs: pax.size === 0 ? [] : [...pax].filter(([k]) => k.startsWith("SCHILY.xattr.") || k.startsWith("LIBARCHIVE.xattr.")),
    stored: headerOnly(goType) ? 0 : size,
  };
  for (const k of ["uid", "gid"] as const) {
    if (header[k] < 0) throw new TornArchive(`entry ${path} has a negative ${k}`);
  }
  if (raw === "S") {
    if (!sparseMap || m !== GNU) throw new TornArchive(`entry ${path} is a sparse file of no format known here`);
    header.size = num(483, 12);
    header.sparse = sparseMap;
  } else if (paxSparse) {
    header.size = paxNum(pax.get("GNU.sparse.size") ? "GNU.sparse.size" : "GNU.sparse.realsize", size);
    header.sparse = paxSparse === "1.0" ? "in-data" : listedMap(pax.get(SPARSE_MAP), pax.get("GNU.sparse.numblocks"), path);
  }
  return header;
}

/** Which of GNU's PAX sparse formats the records say, as Go tells them: 0.0 and 0.1 (their map in the records) or 1.0 (its map heads the data). */
function paxSparseVersion(pax: Map<string, string>): "0.x" | "1.0" | undefined {
  const major = pax.get("GNU.sparse.major");
  const minor = pax.get("GNU.sparse.minor");
  if (major === "1" && minor === "0") return "1.0";
  if (major === "0" && (minor === "0" || minor === "1")) return "0.x";
  return major === undefined && minor === undefined && pax.get(SPARSE_MAP) ? "0.x" : undefined;
}
