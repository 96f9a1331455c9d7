/**
 * A layer's bytes checked against the diff ID its image's config names it by, as `docker
 * load` does: the layer's tar, uncompressed, hashed to its last byte. The tar readers stop
 * at the end-of-archive marker, so what follows it is read and hashed here all the same.
 * Whatever is built or pushed under a content name is made of layers that passed this.
 */
import { UploadError } from "../errors.ts";
import { pullStream } from "../lib/streams.ts";

export interface Hashed {
  /** The layer's tar, for a reader that may stop before its end. */
  stream: ReadableStream<Uint8Array>;
  /** sha256 (hex) of every byte of the input, read to its end even where the reader stopped early. */
  digest: Promise<string>;
}

export function hashedWhole(input: ReadableStream<Uint8Array>): Hashed {
  const hasher = new Bun.CryptoHasher("sha256");
  const reader = input.getReader();
  let settled = false;
  let settle: (hex: string) => void = () => {};
  let fail: (e: unknown) => void = () => {};
  const digest = new Promise<string>((resolve, reject) => {
    settle = (hex) => {
      settled = true;
      resolve(hex);
    };
    fail = (e) => {
      settled = true;
      reject(e);
    };
  });
  // Awaited by the caller once its reader is done; a failure before then is not unhandled.
  digest.catch(() => {});
  const read = async () => {
    try {
      return await reader.read();
    } catch (e) {
      fail(e);
      throw e;
    }
  };
  const stream = pullStream({
    async next() {
      const r = await read();
      if (r.done) {
        settle(hasher.digest("hex"));
        return undefined;
      }
      hasher.update(r.value);
      return r.value;
    },
    release() {
      if (settled) return;
      // The reader has what it wanted (the end-of-archive marker): the rest counts for the digest.
      void (async () => {
        for (let r = await read(); !r.done; r = await read()) hasher.update(r.value);
        settle(hasher.digest("hex"));
      })().catch(fail);
    },
  });
  return { stream, digest };
}

/** Refuses a layer whose bytes are not the ones its image's config names it by. */
export function checkDiffId(pos: number, expected: string, hex: string): void {
  if (expected === `sha256:${hex}`) return;
  throw new UploadError(
    "INPUT",
    `layer ${pos} does not match its diff ID: the image's config names it ${expected}, its bytes hash to sha256:${hex}; nothing was built from it`,
    { hint: "the archive was altered or damaged since it was saved: save the image again (docker save -o FILE IMAGE) and pass that file" },
  );
}
