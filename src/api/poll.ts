import { toUploadError, type UploadError } from "../errors.ts";
import { type Clock, DEFAULT_RETRY, type RetryPolicy, retryDelay } from "../lib/retry.ts";
import type { BuildStatus } from "./client.ts";

export const FAILED_STATUSES = new Set(["FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"]);
const RUNNING_STATUSES = new Set(["PENDING", "RUNNING", "IN_PROGRESS", "QUEUED"]);

export type PollState =
  | {
      phase: "polling";
      buildId: string;
      deadline: number;
      intervalMs: number;
      lastStatus: string | undefined;
      reportedUnknown: readonly string[];
      /** Transient faults in a row; reset by any answer. */
      faults: number;
    }
  | { phase: "succeeded"; buildId: string; image: string }
  | { phase: "failed"; buildId: string; status: string; message: string }
  | { phase: "timed_out"; buildId: string; lastStatus: string | undefined }
  | { phase: "error"; buildId: string; error: UploadError };

export type PollEvent =
  | { type: "answer"; now: number; body: BuildStatus }
  | { type: "fault"; now: number; error: UploadError; random: number };

export type Notice =
  | { kind: "status"; status: string }
  | { kind: "unknown"; status: string }
  | { kind: "retry"; error: UploadError; delayMs: number };

export interface Step {
  state: PollState;
  notices: Notice[];
  /** Present while polling: how long to wait before the next call. */
  waitMs?: number;
}

export function initialState(buildId: string, now: number, timeoutMs: number, intervalMs: number): PollState {
  return { phase: "polling", buildId, deadline: now + timeoutMs, intervalMs, lastStatus: undefined, reportedUnknown: [], faults: 0 };
}

/** The whole polling policy as a pure function: the loop below only performs what it says. */
export function next(state: PollState, event: PollEvent, policy: RetryPolicy = DEFAULT_RETRY): Step {
  if (state.phase !== "polling") return { state, notices: [] };
  const { buildId } = state;
  if (event.type === "fault") {
    if (!event.error.transient) return { state: { phase: "error", buildId, error: event.error }, notices: [] };
    const faults = state.faults + 1;
    const backoff = retryDelay(policy, faults, event.error.retryAfterMs, event.random);
    // A server's Retry-After wins; our own backoff never waits longer than a normal poll.
    const delay = event.error.retryAfterMs === undefined ? Math.min(backoff, state.intervalMs) : backoff;
    return schedule({ ...state, faults }, event.now, delay, [{ kind: "retry", error: event.error, delayMs: delay }]);
  }
  const { status, image, error } = event.body;
  const notices: Notice[] = status !== state.lastStatus ? [{ kind: "status", status }] : [];
  if (status === "SUCCESS") return { state: { phase: "succeeded", buildId, image: image ?? "" }, notices };
  if (FAILED_STATUSES.has(status)) {
    return { state: { phase: "failed", buildId, status, message: error || `Build failed with status: ${status}` }, notices };
  }
  let reportedUnknown = state.reportedUnknown;
  if (!RUNNING_STATUSES.has(status) && !reportedUnknown.includes(status)) {
    reportedUnknown = [...reportedUnknown, status];
    notices.push({ kind: "unknown", status });
  }
  return schedule({ ...state, lastStatus: status, reportedUnknown, faults: 0 }, event.now, state.intervalMs, notices);
}

function schedule(state: PollState & { phase: "polling" }, now: number, delay: number, notices: Notice[]): Step {
  if (now >= state.deadline) {
    return { state: { phase: "timed_out", buildId: state.buildId, lastStatus: state.lastStatus }, notices };
  }
  return { state, notices, waitMs: Math.max(0, Math.min(delay, state.deadline - now)) };
}

export interface PollOptions {
  buildId: string;
  intervalMs: number;
  timeoutMs: number;
  fetchStatus: (signal: AbortSignal) => Promise<BuildStatus>;
  onNotice: (n: Notice) => void;
  clock: Clock;
  signal: AbortSignal;
  random?: () => number;
  policy?: RetryPolicy;
}

/** Polls at once, then as `next` says, until the build ends or the deadline passes. */
export async function pollBuild(o: PollOptions): Promise<Exclude<PollState, { phase: "polling" }>> {
  let state = initialState(o.buildId, o.clock.now(), o.timeoutMs, o.intervalMs);
  const random = o.random ?? Math.random;
  for (;;) {
    let event: PollEvent;
    try {
      event = { type: "answer", now: o.clock.now(), body: await o.fetchStatus(o.signal) };
    } catch (e) {
      if (o.signal.aborted) throw o.signal.reason;
      const error = toUploadError(e, { kind: "unexpected" });
      event = { type: "fault", now: o.clock.now(), error, random: random() };
    }
    const step = next(state, event, o.policy);
    for (const n of step.notices) o.onNotice(n);
    state = step.state;
    if (state.phase !== "polling") return state;
    await o.clock.sleep(step.waitMs ?? 0, o.signal);
  }
}
