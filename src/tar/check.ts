/**
 * A tar archive checked as it passes: every header valid, every entry complete, and a
 * clean end-of-archive (two zero blocks). A source that dies half-way, a cut-off file or
 * bytes that were never a tar fail here, before the closing boundary is sent, so no
 * server ever builds from a torn image. Only headers are parsed; data is counted.
 */
import type { UploadError } from "../errors.ts";
import { BLOCK, padding } from "./block.ts";
import { fileEntries } from "./list.ts";
import { TornArchive } from "./torn-archive.ts";
import { following, TarWalk } from "./walk.ts";

/** Feeds arbitrary chunks to a TarWalk: headers and metadata gathered across chunk edges, data skipped. */
class TarChecker {
  private walk = new TarWalk();
  private skip = 0;
  private head = new Uint8Array(BLOCK);
  private have = 0;
  private total = 0;
  /** A metadata body being gathered, and the padding after it. */
  private meta: { body: Uint8Array; have: number; pad: number } | undefined;

  push(chunk: Uint8Array): void {
    let at = 0;
    this.total += chunk.byteLength;
    while (at < chunk.byteLength && !this.walk.done) {
      if (this.meta) {
        const m = this.meta;
        const n = Math.min(m.body.byteLength - m.have, chunk.byteLength - at);
        m.body.set(chunk.subarray(at, at + n), m.have);
        m.have += n;
        at += n;
        if (m.have === m.body.byteLength) {
          this.walk.meta(m.body);
          this.skip = m.pad;
          this.meta = undefined;
        }
        continue;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.byteLength - at);
        this.skip -= n;
        at += n;
        continue;
      }
      const n = Math.min(BLOCK - this.have, chunk.byteLength - at);
      this.head.set(chunk.subarray(at, at + n), this.have);
      this.have += n;
      at += n;
      if (this.have === BLOCK) {
        this.have = 0;
        const step = this.walk.header(this.head, this.total - (chunk.byteLength - at));
        if (step.kind === "meta") this.meta = { body: new Uint8Array(step.size), have: 0, pad: padding(step.size) };
        else this.skip = following(step);
      }
    }
  }

  end(): void {
    if (this.have > 0 && !this.walk.done) throw new TornArchive(`it ends inside a header, at byte ${this.total}`);
    const m = this.meta;
    this.walk.end(this.total, m ? m.body.byteLength - m.have + m.pad : this.skip);
  }
}

/** How the caller words a torn archive for its source (stdin, a file, the engine). */
export type Torn = (e: TornArchive) => UploadError;

/** Runs a step of the walk; what it finds torn is reported in the caller's words. */
export function walking<T>(torn: Torn, step: () => T): T {
  try {
    return step();
  } catch (e) {
    throw e instanceof TornArchive ? torn(e) : e;
  }
}

/** A stage that passes bytes unchanged and errors, before the stream ends, on a torn tar. */
export function checkTar(input: ReadableStream<Uint8Array>, torn: Torn): ReadableStream<Uint8Array> {
  const checker = new TarChecker();
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        walking(torn, () => checker.push(chunk));
        controller.enqueue(chunk);
      },
      flush() {
        walking(torn, () => checker.end());
      },
    }),
  );
}

/**
 * The same check for a file whose bytes never reach this thread (the Workers pread it):
 * headers are read where the walk says they are, so the cost is one read per entry.
 */
export function checkTarFile(path: string, size: number, torn: Torn): void {
  walking(torn, () => {
    for (const _ of fileEntries(path, size)) {
      // each entry's header is checked as the walk reaches it
    }
  });
}

/** For gzip sent as is: inflate a copy on the side and walk the tar inside it. */
export function checkGzippedTar(input: ReadableStream<Uint8Array>, torn: Torn): ReadableStream<Uint8Array> {
  const inflate = new DecompressionStream("gzip");
  const writer = inflate.writable.getWriter();
  const checker = new TarChecker();
  const walked = (async () => {
    for await (const chunk of inflate.readable as unknown as AsyncIterable<Uint8Array>) checker.push(chunk);
    checker.end();
  })();
  walked.catch(() => {});
  const failed = (e: unknown) =>
    torn(e instanceof TornArchive ? e : new TornArchive(`its gzip data is damaged (${(e as Error)?.message ?? e})`));
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        try {
          await writer.write(chunk as Uint8Array<ArrayBuffer>);
        } catch (e) {
          // The inflater's own error says less than what the walk found, if it found anything.
          throw failed(
            await walked.then(
              () => e,
              (w) => w,
            ),
          );
        }
        controller.enqueue(chunk);
      },
      async flush() {
        try {
          await writer.close();
          await walked;
        } catch (e) {
          throw failed(e);
        }
      },
    }),
  );
}
