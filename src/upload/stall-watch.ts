/**
 * The stall watch of one upload attempt: an attempt whose byte counters have not moved for
 * `timeoutMs` is aborted. It arms on the first byte read: Docker may legitimately take
 * minutes to export before it writes any. Time is the injected clock's.
 */
import { UploadError } from "../errors.ts";
import type { Clock } from "../lib/retry.ts";
import { mib } from "../lib/units.ts";
import type { Progress } from "./body.ts";

export class StallWatch {
  private last = -1;
  private since: number;

  constructor(
    private readonly progress: Progress,
    private readonly size: number | undefined,
    private readonly timeoutMs: number,
    now: number,
  ) {
    this.since = now;
  }

  /** The error to abort with, once the counters have stood still for the timeout; else undefined. */
  check(now: number): UploadError | undefined {
    const { read, sent } = this.progress;
    const moved = read.bytes + sent.bytes;
    if (read.bytes === 0 || moved !== this.last) {
      this.last = moved;
      this.since = now;
      return undefined;
    }
    if (now - this.since < this.timeoutMs) return undefined;
    return new UploadError(
      "STALLED",
      `the upload made no progress for ${Math.round(this.timeoutMs / 1000)} s ` +
        `(read ${mib(read.bytes)}${this.size ? ` of ${mib(this.size)}` : ""}, sent ${mib(sent.bytes)})`,
      { transient: true, hint: "the server or the network stopped accepting data; raise --stall-timeout for a slow link" },
    );
  }
}

/** Checks the watch a tenth of the timeout apart (50 ms to 1 s); `abort` gets its error. */
export function watchStall(watch: StallWatch, timeoutMs: number, clock: Clock, abort: (e: UploadError) => void) {
  return setInterval(
    () => {
      const stalled = watch.check(clock.now());
      if (stalled) abort(stalled);
    },
    Math.min(1000, Math.max(50, timeoutMs / 10)),
  );
}
