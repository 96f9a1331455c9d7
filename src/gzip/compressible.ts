/** Which blocks are worth a compressor's time. */

/** A block is judged on this many small samples spread evenly over it, ends included. */
const SAMPLES = 16;
const SAMPLE = 2 * 1024;

/** The least saving, at level 1 on the samples, that pays for compressing the block. */
const WORTH = 0.1;

/**
 * Whether deflate can shrink a block by a tenth: a level-1 try on 16 samples of 2 KiB
 * costs ~1 % of compressing the block. Already-compressed data (gzip'd layers, zstd,
 * media) fails it and is stored: deflate's stored blocks move it at memory speed.
 *
 * Why a tenth and so many samples: a gzip'd layer has spots that deflate shrinks a little
 * (its own stored stretches, tar headers at an archive's ends). Three samples of 8 KiB at a
 * 3 % bar sent 8 of the 197 blocks of a gzip'd 394 MiB layer to level 6, where each took
 * ~40 ms of a core to save under 2 % of itself: a third of the upload's CPU for 0.1 % of
 * its size. Sixteen spread samples average those spots out, and below a tenth the saving
 * pays only on links slower than ~5 MB/s. Ordinary layers (binaries, text) save a half or
 * more and pass with room to spare (bench/run.ts, README Performance).
 */
export function worthCompressing(block: Uint8Array): boolean {
  if (block.byteLength < 2 * SAMPLES * SAMPLE) return true;
  const sample = new Uint8Array(SAMPLES * SAMPLE);
  const step = (block.byteLength - SAMPLE) / (SAMPLES - 1);
  for (let i = 0; i < SAMPLES; i++) {
    const at = Math.floor(i * step);
    sample.set(block.subarray(at, at + SAMPLE), i * SAMPLE);
  }
  // 18 bytes of gzip header and trailer are not the data's.
  return Bun.gzipSync(sample, { library: "libdeflate", level: 1 }).byteLength - 18 <= sample.byteLength * (1 - WORTH);
}
