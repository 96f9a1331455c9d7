/** Small stream stages that sit between the big ones: counting, hashing, re-chunking. */

export interface Meter {
  bytes: number;
}

/** Counts bytes as they pass; the counter is read by progress reporting. */
export function count(input: ReadableStream<Uint8Array>, meter: Meter): ReadableStream<Uint8Array> {
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        meter.bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    }),
  );
}

/** Hashes what passes, so the summary can name the digest of exactly what was sent. */
export function sha256(input: ReadableStream<Uint8Array>, onDigest: (hex: string) => void): ReadableStream<Uint8Array> {
  const hasher = new Bun.CryptoHasher("sha256");
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        hasher.update(chunk);
        controller.enqueue(chunk);
      },
      flush() {
        onDigest(hasher.digest("hex"));
      },
    }),
  );
}

/**
 * Merges small chunks into ones of at least `min` bytes. Bun's fetch sends each chunk as
 * one HTTP chunk with a fixed cost, so 16 KiB chunks run at a tenth of 1 MiB ones.
 */
export function rechunk(input: ReadableStream<Uint8Array>, min: number): ReadableStream<Uint8Array> {
  const reader = input.getReader();
  let cancelled = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const parts: Uint8Array[] = [];
        let size = 0;
        while (size < min) {
          const { done, value } = await reader.read();
          if (done) break;
          parts.push(value);
          size += value.byteLength;
        }
        if (cancelled) return;
        if (size > 0) controller.enqueue(parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts, size));
        if (size < min) controller.close();
      },
      cancel(reason) {
        cancelled = true;
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Base64 text of the stream ([OH] form), 3-byte groups carried across chunk edges. */
export function base64(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let rest: Uint8Array = new Uint8Array(0);
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        const all = rest.length ? Buffer.concat([rest, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        const whole = all.length - (all.length % 3);
        rest = Uint8Array.prototype.slice.call(all, whole);
        if (whole > 0) controller.enqueue(Buffer.from(all.subarray(0, whole).toString("base64"), "latin1"));
      },
      flush(controller) {
        if (rest.length) controller.enqueue(Buffer.from(Buffer.from(rest).toString("base64"), "latin1"));
      },
    }),
  );
}
