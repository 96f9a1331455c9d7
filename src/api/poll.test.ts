import { describe, expect, test } from "bun:test";
import { UploadError } from "../errors.ts";
import type { Clock } from "../lib/retry.ts";
import type { BuildStatus } from "./client.ts";
import { initialState, type Notice, next, type PollEvent, pollBuild } from "./poll.ts";

const start = initialState("b1", 0, 60_000, 1_000);
const answer = (status: string, extra: Partial<BuildStatus> = {}, now = 0): PollEvent => ({
  type: "answer",
  now,
  body: { status, ...extra },
});
const fault = (e: UploadError, now = 0): PollEvent => ({ type: "fault", now, error: e, random: 0.5 });

describe("next(state, event)", () => {
  test.each([
    ["SUCCESS", "succeeded"],
    ["FAILURE", "failed"],
    ["INTERNAL_ERROR", "failed"],
    ["TIMEOUT", "failed"],
    ["CANCELLED", "failed"],
    ["EXPIRED", "failed"],
    ["PENDING", "polling"],
    ["RUNNING", "polling"],
    ["IN_PROGRESS", "polling"],
    ["QUEUED", "polling"],
    ["SOMETHING_NEW", "polling"],
    ["", "polling"],
  ])("status %s → %s", (status, phase) => {
    expect(next(start, answer(status)).state.phase).toBe(phase as never);
  });

  test("SUCCESS carries the image", () => {
    expect(next(start, answer("SUCCESS", { image: "reg/img:tag" })).state).toEqual({
      phase: "succeeded",
      buildId: "b1",
      image: "reg/img:tag",
    });
  });

  test.each([
    [undefined, "Build failed with status: FAILURE"],
    ["out of disk", "out of disk"],
  ])("FAILURE with error %p reads %p", (error, message) => {
    const s = next(start, answer("FAILURE", error ? { error } : {})).state;
    expect(s).toMatchObject({ phase: "failed", message });
  });

  test("a running status waits one interval; a status change is a notice, a repeat is not", () => {
    const a = next(start, answer("RUNNING"));
    expect(a.waitMs).toBe(1_000);
    expect(a.notices).toEqual([{ kind: "status", status: "RUNNING" }]);
    expect(next(a.state, answer("RUNNING")).notices).toEqual([]);
  });

  test("an unknown status is reported once", () => {
    const a = next(start, answer("WARMING"));
    const b = next(a.state, answer("WARMING"));
    const kinds = (ns: Notice[]) => ns.map((n) => n.kind);
    expect(kinds(a.notices)).toEqual(["status", "unknown"]);
    expect(kinds(b.notices)).toEqual([]);
  });

  test("the wait never runs past the deadline, and polling past it times out", () => {
    expect(next(start, answer("RUNNING", {}, 59_500)).waitMs).toBe(500);
    expect(next(start, answer("RUNNING", {}, 60_000)).state).toEqual({ phase: "timed_out", buildId: "b1", lastStatus: "RUNNING" });
  });

  test("a transient fault is retried with backoff no longer than the interval", () => {
    const e = new UploadError("HTTP", "503", { status: 503, transient: true });
    // First retry, jitter 0.5: half of 1 s fixed plus a quarter of it.
    const s = next(start, fault(e));
    expect(s.state.phase).toBe("polling");
    expect(s.waitMs).toBe(750);
    expect(s.notices[0]).toEqual({ kind: "retry", error: e, delayMs: 750 });
    // With a shorter interval, the interval caps the backoff.
    expect(next(initialState("b1", 0, 60_000, 400), fault(e)).waitMs).toBe(400);
  });

  test("Retry-After is honoured even beyond the interval", () => {
    const s = next(start, fault(new UploadError("RATE_LIMITED", "429", { transient: true, retryAfterMs: 7_000 })));
    expect(s.waitMs).toBe(7_000);
  });

  test("a permanent fault ends polling with that error", () => {
    const e = new UploadError("AUTH", "401", { status: 401 });
    expect(next(start, fault(e)).state).toEqual({ phase: "error", buildId: "b1", error: e });
  });

  test("a terminal state ignores further events", () => {
    const done = next(start, answer("SUCCESS")).state;
    expect(next(done, answer("FAILURE")).state).toBe(done);
  });
});

/** A clock that advances only when the loop sleeps: no real time passes. */
function fakeClock(): Clock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

describe("pollBuild loop", () => {
  test("polls at once, then every interval, until SUCCESS", async () => {
    const script = ["PENDING", "RUNNING", "RUNNING", "SUCCESS"];
    const clock = fakeClock();
    const notices: Notice[] = [];
    const end = await pollBuild({
      buildId: "b1",
      intervalMs: 30_000,
      timeoutMs: 30 * 60_000,
      fetchStatus: async () => ({ status: script.shift() as string, image: "img" }),
      onNotice: (n) => notices.push(n),
      clock,
      signal: new AbortController().signal,
    });
    expect(end).toEqual({ phase: "succeeded", buildId: "b1", image: "img" });
    expect(clock.slept).toEqual([30_000, 30_000, 30_000]);
    expect(notices.map((n) => (n.kind === "status" ? n.status : n.kind))).toEqual(["PENDING", "RUNNING", "SUCCESS"]);
  });

  test("transient faults and malformed answers are survived within the timeout", async () => {
    const clock = fakeClock();
    const script: Array<() => BuildStatus> = [
      () => {
        throw new UploadError("BAD_RESPONSE", "malformed JSON", { transient: true });
      },
      () => {
        throw new UploadError("HTTP", "502", { status: 502, transient: true });
      },
      () => ({ status: "SUCCESS", image: "x" }),
    ];
    const end = await pollBuild({
      buildId: "b1",
      intervalMs: 30_000,
      timeoutMs: 60_000,
      fetchStatus: async () => (script.shift() as () => BuildStatus)(),
      onNotice: () => {},
      clock,
      signal: new AbortController().signal,
      random: () => 0,
    });
    expect(end.phase).toBe("succeeded");
    expect(clock.slept).toEqual([500, 1_000]);
  });

  test("gives up at the deadline when the build never ends", async () => {
    const clock = fakeClock();
    const end = await pollBuild({
      buildId: "b1",
      intervalMs: 30_000,
      timeoutMs: 100_000,
      fetchStatus: async () => ({ status: "RUNNING" }),
      onNotice: () => {},
      clock,
      signal: new AbortController().signal,
    });
    expect(end).toEqual({ phase: "timed_out", buildId: "b1", lastStatus: "RUNNING" });
    expect(clock.now()).toBe(100_000);
  });
});
