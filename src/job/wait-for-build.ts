/** Waiting for a build: the poll machine driven until it ends, its end made a result or an error. */
import { getBuildStatus } from "../api/client.ts";
import { pollBuild } from "../api/poll.ts";
import { UploadError } from "../errors.ts";
import type { JobOptions } from "./job.ts";

export type WaitOptions = Pick<JobOptions, "endpoint" | "timeoutMs" | "intervalMs" | "statusTimeoutMs" | "clock" | "signal" | "onEvent">;

/** A status check may outlast --timeout by this much at most, whatever the server does. */
const STATUS_GRACE_MS = 2000;

export async function waitForBuild(o: WaitOptions, buildId: string): Promise<string> {
  o.onEvent({ type: "polling", buildId });
  const deadline = o.clock.now() + o.timeoutMs;
  const callTimeout = () => Math.min(o.statusTimeoutMs, Math.max(0, deadline - o.clock.now()) + STATUS_GRACE_MS);
  const end = await pollBuild({
    buildId,
    intervalMs: o.intervalMs,
    timeoutMs: o.timeoutMs,
    fetchStatus: (signal) => getBuildStatus(o.endpoint, buildId, callTimeout(), signal),
    onNotice: (notice) => o.onEvent({ type: "poll-notice", notice }),
    clock: o.clock,
    signal: o.signal,
  });
  switch (end.phase) {
    case "succeeded":
      return end.image;
    case "failed":
      throw new UploadError("BUILD_FAILED", end.message, { hint: `build ID: ${buildId}` });
    case "timed_out":
      throw new UploadError(
        "TIMEOUT",
        `gave up waiting for build ${buildId} after ${formatMinutes(o.timeoutMs)}` +
          (end.lastStatus ? ` (last status: ${end.lastStatus})` : ""),
        { hint: `the build may still finish on the server: wait again with 'runtime-upload wait ${buildId}'` },
      );
    case "error":
      throw end.error;
  }
}

function formatMinutes(ms: number): string {
  const min = ms / 60_000;
  return `${Number.isInteger(min) ? min : min.toFixed(1)} minute${min === 1 ? "" : "s"}`;
}
