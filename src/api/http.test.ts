/** Reading the Runtime-API's answers: Retry-After in both forms, and errors with the server's detail. */
import { describe, expect, test } from "bun:test";
import { errorDetail, httpError, parseRetryAfter } from "./http.ts";

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
