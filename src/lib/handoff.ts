/**
 * A second reader of the chunks a stage passes on: each chunk is handed over only when
 * the reader asks for one, so nothing queues between the two (a web stream's tee() buffers
 * without bound behind its slower side).
 */
import { pullStream } from "./streams.ts";

export interface Handoff {
  /** What the second reader reads. */
  stream: ReadableStream<Uint8Array>;
  /** Hands `chunk` over (undefined: the end) once the reader wants it, or at once after stop(). */
  give(chunk: Uint8Array | undefined): Promise<void>;
  /** The reader has gone (it read all it needed, or failed): give() waits no more. */
  stop(): void;
}

export function handoff(): Handoff {
  let stopped = false;
  let asked: (() => void) | undefined;
  let asking = new Promise<void>((resolve) => {
    asked = resolve;
  });
  let deliver: ((chunk: Uint8Array | undefined) => void) | undefined;
  const stream = pullStream({
    next: () =>
      new Promise<Uint8Array | undefined>((resolve) => {
        deliver = resolve;
        asked?.();
      }),
  });
  return {
    stream,
    async give(chunk) {
      if (stopped) return;
      await asking;
      if (stopped) return;
      asking = new Promise<void>((resolve) => {
        asked = resolve;
      });
      const d = deliver;
      deliver = undefined;
      d?.(chunk);
    },
    stop() {
      stopped = true;
      asked?.();
    },
  };
}
