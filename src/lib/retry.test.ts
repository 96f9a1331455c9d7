/** The one retry policy: capped exponential backoff with jitter, and Retry-After first. */
import { describe, expect, test } from "bun:test";
import { retryDelay } from "./retry.ts";

describe("retryDelay", () => {
  const policy = { retries: 5, baseMs: 1_000, capMs: 30_000, maxRetryAfterMs: 120_000 };
  test.each([
    [1, 0, 500],
    [1, 0.999, 1_000],
    [3, 0, 2_000],
    [10, 0.5, 22_500],
  ])("attempt %i with jitter %p waits %i ms", (attempt, random, ms) => {
    expect(retryDelay(policy, attempt, undefined, random)).toBeCloseTo(ms, -1);
  });
  test("Retry-After wins, capped", () => {
    expect(retryDelay(policy, 1, 42_000, 0.5)).toBe(42_000);
    expect(retryDelay(policy, 1, 999_000, 0.5)).toBe(120_000);
  });
});
