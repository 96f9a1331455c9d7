/**
 * A rate over the last few seconds, not since the start: a stall must not hold the rate and
 * the ETA down for the rest of the run; and it is counted from the first byte, so a wait
 * before it (the engine writing its whole export) is not averaged in at all. Times are
 * given, so the arithmetic is tested on made-up clocks.
 */
const ETA_AFTER_MS = 3000;

export class WindowRate {
  private readonly samples: Array<{ at: number; bytes: number }> = [];

  constructor(private readonly windowMs = 5000) {}

  /** The running total at `at` (ms). */
  sample(at: number, bytes: number): void {
    // Nothing read yet: only the last such moment is where the counting starts.
    if (bytes === 0) this.samples.length = 0;
    this.samples.push({ at, bytes });
    // Keep one sample at or before the window's start, so the window is always spanned.
    while (this.samples.length > 2 && (this.samples[1] as { at: number }).at <= at - this.windowMs) this.samples.shift();
  }

  /**
   * Seconds to read `left` more bytes at this rate, once the rate spans ETA_AFTER_MS from
   * the first byte: the socket's buffers and the pipeline take their first megabytes at
   * once, and a rate over less than that promises an end far too soon (a first ETA of 2 s
   * with 7.7 s left, at 8 MB/s on a fast machine).
   */
  eta(left: number): number | undefined {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    const perSecond = this.perSecond();
    if (!first || !last || last.at - first.at < ETA_AFTER_MS || perSecond <= 0) return undefined;
    return Math.max(0, left) / perSecond;
  }

  /** Bytes per second over the window, or 0 before two samples. */
  perSecond(): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at <= first.at) return 0;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }
}
