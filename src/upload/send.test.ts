/** The upload retry loop with an injected clock: every wait is recorded, none is slept. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { tarOf } from "../../test/helpers.ts";
import { type Fault, startServer } from "../../test/server.ts";
import { UploadError } from "../errors.ts";
import { DEFAULT_RETRY } from "../lib/retry.ts";
import type { Source } from "../source/source.ts";
import type { Progress } from "./body.ts";
import { sendWithRetries } from "./send.ts";

const KEY = "unit-key";
let server: ReturnType<typeof startServer>;
let archive: Uint8Array;
beforeAll(async () => {
  server = startServer({ key: KEY, discard: true });
  archive = await tarOf({ "layer.bin": new Uint8Array(1000).fill(7) });
});
afterAll(() => server.stop(true));

let opened = 0;
function source(replayable = true): Source {
  return {
    kind: "file",
    label: "memory",
    size: archive.byteLength,
    replayable,
    gzipped: false,
    open: () => {
      opened++;
      return new Blob([archive]).stream();
    },
  };
}

async function configure(faults: Fault[]) {
  await fetch(`${server.url}_control/reset`, { method: "POST", body: "{}" });
  await fetch(`${server.url}_control/config`, { method: "POST", body: JSON.stringify({ faults }) });
}

function run(replayable = true, retries = DEFAULT_RETRY.retries) {
  const slept: number[] = [];
  const progress: Progress = { read: { bytes: 0 }, sent: { bytes: 0 } };
  const result = sendWithRetries(
    {
      endpoint: { baseUrl: server.url.href.replace(/\/$/, ""), apiKey: KEY },
      targetImage: "img",
      tags: [],
      source: source(replayable),
      gzip: { mode: "parallel", level: 1, jobs: 1, blockSize: 65536 },
      form: "runtime",
    },
    progress,
    {
      policy: { ...DEFAULT_RETRY, retries },
      clock: {
        now: () => 0,
        sleep: async (ms) => {
          slept.push(ms);
        },
      },
      random: () => 0,
      limits: { stallTimeoutMs: 60_000, responseTimeoutMs: 60_000 },
      signal: new AbortController().signal,
      onRetry: () => {},
    },
  );
  return { result, slept };
}

const build = (f: Omit<Fault, "path">): Fault => ({ path: "/build", ...f });

beforeEach(() => {
  opened = 0;
});

describe("upload retries", () => {
  test.each([
    ["Retry-After: 42 (seconds)", [build({ status: 429, headers: { "retry-after": "42" } })], [42_000]],
    ["Retry-After far away is capped", [build({ status: 429, headers: { "retry-after": "86400" } })], [DEFAULT_RETRY.maxRetryAfterMs]],
    ["503 twice without Retry-After: exponential backoff", [build({ status: 503, times: 2 })], [500, 1_000]],
    ["502, 504, 500 in a row", [build({ status: 502 }), build({ status: 504 }), build({ status: 500 })], [500, 1_000, 2_000]],
  ] as const)("%s", async (_name, faults, waits) => {
    await configure([...faults]);
    const { result, slept } = run();
    expect((await result).buildId).toBeString();
    expect(slept).toEqual([...waits]);
    expect(opened).toBe(waits.length + 1);
  });

  test("Retry-After as an HTTP date waits until that time", async () => {
    await configure([build({ status: 429, headers: { "retry-after": new Date(Date.now() + 90_000).toUTCString() } })]);
    const { result, slept } = run();
    await result;
    expect(slept[0]).toBeGreaterThan(85_000);
    expect(slept[0]).toBeLessThanOrEqual(90_000);
  });

  test("gives up after the last retry with the last error", async () => {
    await configure([build({ status: 503, times: 10 })]);
    const { result, slept } = run(true, 3);
    await expect(result).rejects.toThrow("(gave up after 4 attempts)");
    expect(slept).toEqual([500, 1_000, 2_000]);
  });

  test("a permanent error is not retried", async () => {
    await configure([build({ status: 413 })]);
    const { result, slept } = run();
    await expect(result).rejects.toMatchObject({ code: "TOO_LARGE" });
    expect(slept).toEqual([]);
  });

  test("a source that cannot be replayed is not retried", async () => {
    await configure([build({ status: 503 })]);
    const { result, slept } = run(false);
    const e = (await result.catch((x) => x)) as UploadError;
    expect(e).toBeInstanceOf(UploadError);
    expect(e.message).toContain("cannot be replayed");
    expect(slept).toEqual([]);
    expect(opened).toBe(1);
  });
});
