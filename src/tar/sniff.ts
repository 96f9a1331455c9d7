/** The one format sniffer: what the first bytes of an archive, a layer or a blob say it is. */
import { BLOCK, validTarHeader } from "./block.ts";

export type Format = "gzip" | "zstd" | "json" | "tar" | "unknown";

/**
 * `head` is the first bytes, at least a block of them to know a tar (a valid first header).
 * A valid header is asked for before JSON's first byte: a tar whose first name starts with
 * "[" or "{" is still a tar, and a checksum does not match by chance.
 */
export function sniff(head: Uint8Array): Format {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  if (head.byteLength >= BLOCK && validTarHeader(head.subarray(0, BLOCK))) return "tar";
  if (head[0] === 0x7b || head[0] === 0x5b) return "json";
  return "unknown";
}
