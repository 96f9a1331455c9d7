/** The one retry policy: capped exponential backoff with full jitter, and Retry-After honoured. */
export interface RetryPolicy {
  /** Attempts after the first. */
  retries: number;
  baseMs: number;
  capMs: number;
  /** The longest Retry-After we wait for; a server asking for more is capped to this. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 5, baseMs: 1000, capMs: 30_000, maxRetryAfterMs: 300_000 };

/**
 * How long to wait before retry number `attempt` (1-based). `random` is in [0, 1):
 * injected so tests can pin the jitter.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, retryAfterMs: number | undefined, random: number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxRetryAfterMs);
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** (attempt - 1));
  // Half fixed, half jitter: never zero, and many clients do not retry in lockstep.
  return Math.round(ceiling / 2 + (random * ceiling) / 2);
}

/** setTimeout wraps past 2^31 - 1 ms into an immediate fire (a tight loop): a longer wait is "forever" anyway. */
export function clampTimer(ms: number): number {
  return Math.max(0, Math.min(ms, 2 ** 31 - 1));
}

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(done, clampTimer(ms));
      function done() {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }
      function onAbort() {
        clearTimeout(t);
        reject(signal?.reason);
      }
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};
