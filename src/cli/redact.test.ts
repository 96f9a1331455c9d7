/** The key masked in every form it can take in text. */
import { expect, test } from "bun:test";
import { redact } from "./redact.ts";

test.each([
  ["as is, every time", "s3cr3t-key", "key=s3cr3t-key and again s3cr3t-key", "key=*** and again ***"],
  ["JSON-escaped", 'k"ey\\with-quote', JSON.stringify({ detail: 'k"ey\\with-quote' }), '{"detail":"***"}'],
  ["URL-encoded", "k/ey+with&stuff", `https://h/?key=${encodeURIComponent("k/ey+with&stuff")}`, "https://h/?key=***"],
])("redact hides the secret %s", (_how, secret, text, expected) => {
  expect(redact(text, secret)).toBe(expected);
});
