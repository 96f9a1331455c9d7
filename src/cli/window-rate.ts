/**
 * The ETA's rate leaves out the first this-many ms of reading, and is given once it spans
 * as long again.
 */
const ETA_SKIP_MS = 1500;

/**
 * A rate over the last few seconds, not since the start: a stall must not hold the rate and
 * the ETA down for the rest of the run; and it is counted from the first byte, so a wait
 * before it (the engine writing its whole export) is not averaged in at all. Times are
 * given, so the arithmetic is tested on made-up clocks.
 */
export class WindowRate {
  private readonly samples: Array<{ at: number; bytes: number }> = [];
  /** The first sample's time, or the last one's with nothing read yet: the counting starts there. */
  private origin: number | undefined;

  constructor(private readonly windowMs = 5000) {}

  /** The running total at `at` (ms). */
  sample(at: number, bytes: number): void {
    // Nothing read yet: only the last such moment is where the counting starts.
    if (bytes === 0) {
      this.samples.length = 0;
      this.origin = at;
    }
    this.origin ??= at;
    this.samples.push({ at, bytes });
    // Keep one sample at or before the window's start, so the window is always spanned.
    while (this.samples.length > 2 && (this.samples[1] as { at: number }).at <= at - this.windowMs) this.samples.shift();
  }

  /**
   * Seconds to read `left` more bytes, at the rate since ETA_SKIP_MS after the first byte
   * (within the window): the socket's buffers and the pipeline take tens of megabytes at
   * once at the start (half of a 160 MiB image on a fast machine), and a rate that counts
   * them promises an end far too soon (a first ETA of 1 s with 5 s left).
   */
  eta(left: number): number | undefined {
    const last = this.samples.at(-1);
    if (!last) return undefined;
    const from = Math.max((this.origin ?? last.at) + ETA_SKIP_MS, last.at - this.windowMs);
    const first = this.samples.findLast((s) => s.at <= from);
    if (!first || last.at - first.at < ETA_SKIP_MS) return undefined;
    // All read (a small image the buffers took whole): what is left is the link's, unseen here.
    if (left <= 0) return 0;
    const perSecond = between(first, last);
    return perSecond > 0 ? left / perSecond : undefined;
  }

  /** Bytes per second over the window, or 0 before two samples. */
  perSecond(): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    return first && last ? between(first, last) : 0;
  }
}

/** Bytes per second from one sample to a later one; 0 where no time passed. */
function between(first: { at: number; bytes: number }, last: { at: number; bytes: number }): number {
  return last.at > first.at ? ((last.bytes - first.bytes) * 1000) / (last.at - first.at) : 0;
}
