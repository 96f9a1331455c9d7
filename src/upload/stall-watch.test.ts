/** The stall watch on the injected clock's times: no real second passes in these rows. */
import { describe, expect, test } from "bun:test";
import type { Progress } from "./body.ts";
import { StallWatch } from "./stall-watch.ts";

const progress = (): Progress => ({ read: { bytes: 0 }, sent: { bytes: 0 } });

describe("the stall watch", () => {
  test("is not armed before the first byte is read: an engine may export for minutes first", () => {
    const p = progress();
    const watch = new StallWatch(p, undefined, 1000, 0);
    expect(watch.check(60_000)).toBeUndefined();
    expect(watch.check(600_000)).toBeUndefined();
  });

  test.each([
    [
      "counters that stand still for the timeout stall",
      [
        [0, 1],
        [500, 1],
        [999, 1],
        [1000, 1],
      ],
      1000,
    ],
    [
      "a moving counter resets the wait",
      [
        [0, 1],
        [900, 2],
        [1800, 3],
        [2700, 4],
        [3600, 4],
        [3699, 4],
        [3700, 4],
      ],
      3700,
    ],
  ] as const)("%s", (_what, steps, stallsAt) => {
    const p = progress();
    const watch = new StallWatch(p, 100 * 1048576, 1000, 0);
    for (const [now, bytes] of steps) {
      p.read.bytes = bytes;
      const stalled = watch.check(now);
      expect(stalled === undefined ? "running" : "stalled").toBe(now === stallsAt ? "stalled" : "running");
    }
  });

  test("says how far the upload got, and that a retry may help", () => {
    const p = progress();
    p.read.bytes = 14 * 1048576;
    p.sent.bytes = 5 * 1048576;
    const watch = new StallWatch(p, 320 * 1048576, 2000, 0);
    watch.check(0);
    const stalled = watch.check(2000);
    expect(stalled?.message).toBe("the upload made no progress for 2 s (read 14.0 MiB of 320.0 MiB, sent 5.0 MiB)");
    expect(stalled?.transient).toBe(true);
    expect(stalled?.code).toBe("STALLED");
  });
});
