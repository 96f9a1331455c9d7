/** RUNTIME_API_URL and RUNTIME_API_KEY, checked with the original uploader's messages. */
import { describe, expect, test } from "bun:test";
import { UploadError } from "../errors.ts";
import { endpointFromEnv } from "./endpoint.ts";

describe("endpointFromEnv", () => {
  test.each([
    ["https://api.example.com/", "https://api.example.com"],
    ["http://127.0.0.1:8080///", "http://127.0.0.1:8080"],
    ["https://api.example.com/base/", "https://api.example.com/base"],
  ])("RUNTIME_API_URL %s → base %s", (url, baseUrl) => {
    expect(endpointFromEnv({ RUNTIME_API_URL: url, RUNTIME_API_KEY: "k-12345678" }).baseUrl).toBe(baseUrl);
  });

  /** An environment with this URL and a good key, or a good URL and this key. */
  const url = (u: string) => ({ RUNTIME_API_URL: u, RUNTIME_API_KEY: "k-12345678" });
  const key = (k: string) => ({ RUNTIME_API_URL: "https://x", RUNTIME_API_KEY: k });
  test.each([
    ["no URL", { RUNTIME_API_KEY: "k-12345678" }, "RUNTIME_API_URL environment variable is required"],
    ["no key", { RUNTIME_API_URL: "https://x" }, "RUNTIME_API_KEY environment variable is required"],
    ["a blank URL", url("  "), "RUNTIME_API_URL environment variable is required"],
    ["a malformed URL", url("not a url"), "RUNTIME_API_URL is not a valid URL: not a url"],
    ["an ftp URL", url("ftp://x"), "RUNTIME_API_URL must be http or https, got ftp:"],
    [
      "credentials in the URL, never echoed",
      url("https://user:pw-s3cret@api.example.com/base/"),
      "RUNTIME_API_URL must not carry a user name or password (https://api.example.com/base/)",
    ],
    [
      "an unparsable URL with credentials, never echoed",
      url("http://user:pw s3cret@api example.com/"),
      "RUNTIME_API_URL is not a valid URL: http://***@api example.com/",
    ],
    [
      "a query, where the API paths would land",
      url("https://api.example.com/v1?x=1"),
      "RUNTIME_API_URL must not have a query (?…): https://api.example.com/v1",
    ],
    [
      "a fragment, which would post to the base itself",
      url("https://api.example.com/v1#top"),
      "RUNTIME_API_URL must not have a fragment (#…): https://api.example.com/v1",
    ],
    ["a key with a space", key("abc def-12345"), "RUNTIME_API_KEY holds a character"],
    ["a key with a line break", key("abc\ndef-12345"), "RUNTIME_API_KEY holds a character"],
    ["a key with an escape", key("abc\x1bdef-12345"), "RUNTIME_API_KEY holds a character"],
    ["a key too short to be one", key("e"), "RUNTIME_API_KEY is too short"],
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
