/** The live rate: over the last few seconds, so a wait or a stall leaves it soon. */
import { describe, expect, test } from "bun:test";
import { WindowRate } from "./window-rate.ts";

/** Samples every 250 ms: `stallS` seconds of nothing, then `steadyS` at `mbps` MB/s. */
function after(stallS: number, steadyS: number, mbps: number): number {
  const rate = new WindowRate();
  let bytes = 0;
  for (let t = 0; t <= (stallS + steadyS) * 1000; t += 250) {
    if (t > stallS * 1000) bytes += (mbps * 1e6) / 4;
    rate.sample(t, bytes);
  }
  return rate.perSecond();
}

describe("the live rate", () => {
  test.each([
    ["after a 10 s stall and 5 s of steady sending, within 25 % of the steady rate", 10, 5, 40],
    ["after a 15 s wait for the engine and 6 s of reading", 15, 6, 100],
    ["with no wait at all", 0, 8, 20],
  ] as const)("%s", (_what, stall, steady, mbps) => {
    expect(Math.abs(after(stall, steady, mbps) / (mbps * 1e6) - 1)).toBeLessThan(0.25);
  });

  test.each([1, 2, 3, 5])(
    "after a 6 s wait for the engine's first byte, %d s of 20 MB/s: the rate is the link's, not diluted by the wait",
    (seconds) => {
      const rate = new WindowRate();
      for (let t = 0; t <= 6000; t += 250) rate.sample(t, 0);
      for (let t = 6250; t <= 6000 + seconds * 1000; t += 250) rate.sample(t, ((t - 6000) / 250) * 5e6);
      expect(Math.abs(rate.perSecond() / 20e6 - 1)).toBeLessThan(0.01);
    },
  );

  test("is 0 before it has two samples, and over a stall", () => {
    const rate = new WindowRate();
    expect(rate.perSecond()).toBe(0);
    rate.sample(0, 100);
    expect(rate.perSecond()).toBe(0);
    for (let t = 250; t <= 10_000; t += 250) rate.sample(t, 100);
    expect(rate.perSecond()).toBe(0);
  });

  test.each([20e6, 80e6])(
    "no ETA before 3 s of reading; then within 2 x the time left, though the buffers took %d bytes at once",
    (burst) => {
      const rate = new WindowRate();
      const total = 160e6;
      // Nothing for a second, then the burst at once (the socket's buffers, the pipeline), then 8 MB/s.
      const read = (t: number) => (t <= 1000 ? 0 : Math.min(total, burst + ((t - 1000) / 1000) * 8e6));
      const end = 1000 + ((total - burst) / 8e6) * 1000;
      for (let t = 0; t <= 3750; t += 250) {
        rate.sample(t, read(t));
        expect(rate.eta(total - read(t))).toBeUndefined();
      }
      rate.sample(4000, read(4000));
      const eta = rate.eta(total - read(4000)) as number;
      const left = (end - 4000) / 1000;
      expect(eta).toBeGreaterThan(left / 2);
      expect(eta).toBeLessThan(2 * left);
    },
  );
});
