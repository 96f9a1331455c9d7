/** Which blocks are worth a compressor's time. */

/** Bytes taken from each of three places in a block to judge it. */
const PROBE = 8 * 1024;

/**
 * Whether deflate can shrink a block by at least 3 % at level 1 (about twice that at
 * level 6): a try on three samples (start, middle, end) costs ~1 % of compressing the
 * block. Already-compressed data (gzip'd layers, zstd, media) fails it and is stored:
 * deflate's stored blocks move it at memory speed. Re-compressing a gzip'd layer gains
 * about 1 % for a core's whole time, which pays on no link (README, Performance).
 */
export function worthCompressing(block: Uint8Array): boolean {
  if (block.byteLength < 4 * PROBE) return true;
  const sample = new Uint8Array(3 * PROBE);
  const mid = (block.byteLength >> 1) - (PROBE >> 1);
  sample.set(block.subarray(0, PROBE), 0);
  sample.set(block.subarray(mid, mid + PROBE), PROBE);
  sample.set(block.subarray(block.byteLength - PROBE), 2 * PROBE);
  // 18 bytes of gzip header and trailer are not the data's.
  return Bun.gzipSync(sample, { library: "libdeflate", level: 1 }).byteLength - 18 < sample.byteLength * 0.97;
}
