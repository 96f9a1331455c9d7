import { describe, expect, test } from "bun:test";
import { endpointFromEnv } from "../src/api/endpoint.ts";
import { errorDetail, httpError, parseRetryAfter } from "../src/api/http.ts";
import { redact } from "../src/cli/redact.ts";
import { UploadError } from "../src/errors.ts";
import { retryDelay } from "../src/lib/retry.ts";

const NOW = Date.parse("2026-11-27T12:00:00Z");

describe("parseRetryAfter", () => {
  test.each([
    ["42", 42_000],
    [" 0 ", 0],
    ["Fri, 27 Nov 2026 12:00:30 GMT", 30_000],
    ["Fri, 27 Nov 2026 11:59:00 GMT", 0],
    ["soon", undefined],
    ["", undefined],
    [null, undefined],
  ])("%p → %p ms", (value, ms) => {
    expect(parseRetryAfter(value, NOW)).toBe(ms);
  });
});

describe("httpError", () => {
  test.each([
    [401, "AUTH", false],
    [403, "AUTH", false],
    [404, "NOT_FOUND", false],
    [413, "TOO_LARGE", false],
    [429, "RATE_LIMITED", true],
    [400, "HTTP", false],
    [408, "HTTP", true],
    [500, "HTTP", true],
    [502, "HTTP", true],
    [503, "HTTP", true],
    [504, "HTTP", true],
  ])("HTTP %i → %s, transient %p", (status, code, transient) => {
    const e = httpError(status, "", "http://h/build", null, NOW);
    expect(e.code).toBe(code as never);
    expect(e.transient).toBe(transient);
  });

  test("shows the server's detail and carries Retry-After", () => {
    const e = httpError(429, '{"detail":"slow down"}', "http://h/build", "3", NOW);
    expect(e.message).toContain("slow down");
    expect(e.retryAfterMs).toBe(3_000);
  });
});

test.each([
  ['{"detail":"bad tag"}', "bad tag"],
  ['{"detail":[{"loc":["body"],"msg":"field required"}]}', '[{"loc":["body"],"msg":"field required"}]'],
  ["<html>gateway</html>", "<html>gateway</html>"],
])("errorDetail(%p) → %p", (body, detail) => {
  expect(errorDetail(body)).toBe(detail);
});

describe("endpointFromEnv", () => {
  test.each([
    ["https://api.example.com/", "https://api.example.com"],
    ["http://127.0.0.1:8080///", "http://127.0.0.1:8080"],
    ["https://api.example.com/base/", "https://api.example.com/base"],
  ])("RUNTIME_API_URL %s → base %s", (url, baseUrl) => {
    expect(endpointFromEnv({ RUNTIME_API_URL: url, RUNTIME_API_KEY: "k-12345678" }).baseUrl).toBe(baseUrl);
  });

  test.each([
    ["no URL", { RUNTIME_API_KEY: "k-12345678" }, "RUNTIME_API_URL environment variable is required"],
    ["no key", { RUNTIME_API_URL: "https://x" }, "RUNTIME_API_KEY environment variable is required"],
    ["a blank URL", { RUNTIME_API_URL: "  ", RUNTIME_API_KEY: "k-12345678" }, "RUNTIME_API_URL environment variable is required"],
    ["a malformed URL", { RUNTIME_API_URL: "not a url", RUNTIME_API_KEY: "k-12345678" }, "RUNTIME_API_URL is not a valid URL: not a url"],
    ["an ftp URL", { RUNTIME_API_URL: "ftp://x", RUNTIME_API_KEY: "k-12345678" }, "RUNTIME_API_URL must be http or https, got ftp:"],
    [
      "credentials in the URL, never echoed",
      { RUNTIME_API_URL: "https://user:pw-s3cret@api.example.com/base/", RUNTIME_API_KEY: "k-12345678" },
      "RUNTIME_API_URL must not carry a user name or password (https://api.example.com/base/)",
    ],
    [
      "an unparsable URL with credentials, never echoed",
      { RUNTIME_API_URL: "http://user:pw s3cret@api example.com/", RUNTIME_API_KEY: "k-12345678" },
      "RUNTIME_API_URL is not a valid URL: http://***@api example.com/",
    ],
    [
      "a query, where the API paths would land",
      { RUNTIME_API_URL: "https://api.example.com/v1?x=1", RUNTIME_API_KEY: "k-12345678" },
      "RUNTIME_API_URL must not have a query (?…): https://api.example.com/v1",
    ],
    [
      "a fragment, which would post to the base itself",
      { RUNTIME_API_URL: "https://api.example.com/v1#top", RUNTIME_API_KEY: "k-12345678" },
      "RUNTIME_API_URL must not have a fragment (#…): https://api.example.com/v1",
    ],
    ["a key with a space", { RUNTIME_API_URL: "https://x", RUNTIME_API_KEY: "abc def-12345" }, "RUNTIME_API_KEY holds a character"],
    ["a key with a line break", { RUNTIME_API_URL: "https://x", RUNTIME_API_KEY: "abc\ndef-12345" }, "RUNTIME_API_KEY holds a character"],
    ["a key with an escape", { RUNTIME_API_URL: "https://x", RUNTIME_API_KEY: "abc\x1bdef-12345" }, "RUNTIME_API_KEY holds a character"],
    ["a key too short to be one", { RUNTIME_API_URL: "https://x", RUNTIME_API_KEY: "e" }, "RUNTIME_API_KEY is too short"],
  ])("%s fails: %s", (_name, env, message) => {
    let error: unknown;
    try {
      endpointFromEnv(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UploadError);
    expect((error as UploadError).code).toBe("CONFIG");
    expect((error as UploadError).message).toStartWith(message);
    expect((error as UploadError).message).not.toContain("s3cret");
  });
});

test.each([
  ["as is, every time", "s3cr3t-key", "key=s3cr3t-key and again s3cr3t-key", "key=*** and again ***"],
  ["JSON-escaped", 'k"ey\\with-quote', JSON.stringify({ detail: 'k"ey\\with-quote' }), '{"detail":"***"}'],
  ["URL-encoded", "k/ey+with&stuff", `https://h/?key=${encodeURIComponent("k/ey+with&stuff")}`, "https://h/?key=***"],
])("redact hides the secret %s", (_how, secret, text, expected) => {
  expect(redact(text, secret)).toBe(expected);
});

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
