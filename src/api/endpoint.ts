/**
 * Where the Runtime-API is and the key it takes: RUNTIME_API_URL and RUNTIME_API_KEY
 * checked before any request, with the original uploader's exact messages.
 */
import { UploadError } from "../errors.ts";

export interface Endpoint {
  /** RUNTIME_API_URL without trailing slashes. */
  baseUrl: string;
  apiKey: string;
  /** Private CA (PEM) and/or verification off (--insecure), passed to every request. */
  tls?: { ca?: string; rejectUnauthorized?: boolean };
}

/**
 * Reads the endpoint from the environment the way the original uploader did, with its
 * exact messages, and rejects a URL that fetch would not understand before any work starts.
 */
export function endpointFromEnv(env: Record<string, string | undefined>, keyFromFlag?: string): Endpoint {
  const rawUrl = env.RUNTIME_API_URL?.trim();
  if (!rawUrl) {
    throw new UploadError("CONFIG", "RUNTIME_API_URL environment variable is required", {
      hint: "export RUNTIME_API_URL=https://runtime.example.com",
    });
  }
  const apiKey = keyFromFlag ?? env.RUNTIME_API_KEY?.trim();
  if (!apiKey) {
    throw new UploadError("CONFIG", "RUNTIME_API_KEY environment variable is required", {
      hint: "export RUNTIME_API_KEY=..., or pass --api-key-file FILE or --api-key-stdin (the key is never printed)",
    });
  }
  const baseUrl = normaliseBaseUrl(rawUrl);
  return { baseUrl, apiKey: keyFromFlag ?? validateKey(apiKey, "RUNTIME_API_KEY") };
}

function normaliseBaseUrl(raw: string): string {
  let url: URL;
  const fix = { hint: "use the API's base URL alone, such as https://runtime.example.com" };
  try {
    url = new URL(raw);
  } catch {
    throw new UploadError("CONFIG", `RUNTIME_API_URL is not a valid URL: ${hideUserInfo(raw)}`, fix);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UploadError("CONFIG", `RUNTIME_API_URL must be http or https, got ${url.protocol}`, fix);
  }
  const shown = `${url.protocol}//${url.host}${url.pathname}`;
  if (url.username || url.password) {
    throw new UploadError("CONFIG", `RUNTIME_API_URL must not carry a user name or password (${shown})`, {
      hint: "remove the user:password@ part: the API key goes in RUNTIME_API_KEY, and credentials in a URL end up in logs",
    });
  }
  // The API paths are appended to the base: after a ? they would land in the query, after a # nowhere.
  for (const [mark, what] of [
    ["?", "query"],
    ["#", "fragment"],
  ] as const) {
    if (raw.includes(mark)) throw new UploadError("CONFIG", `RUNTIME_API_URL must not have a ${what} (${mark}…): ${shown}`, fix);
  }
  return shown.replace(/\/+$/, "");
}

/** For an unparsable URL: whatever stands before an @ may be a password. */
function hideUserInfo(raw: string): string {
  return raw.replace(/^([^/]*\/\/)?[^/?#]*@/, (_m, scheme: string | undefined) => `${scheme ?? ""}***@`);
}

/** Long enough that masking it cannot eat ordinary words, and that it is no placeholder. */
const MIN_KEY_LENGTH = 8;

/** A key goes into a header: printable ASCII, no spaces. Checked before any request, and never echoed. */
export function validateKey(key: string, from: string): string {
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new UploadError(
      "CONFIG",
      `${from} holds a character that cannot be part of an API key (a space, a line break, a control or non-ASCII character)`,
      {
        hint: 'write just the key, on one line: printf %s "$KEY" > key.txt',
      },
    );
  }
  if (key.length < MIN_KEY_LENGTH) {
    throw new UploadError("CONFIG", `${from} is too short to be an API key (${key.length} characters, at least ${MIN_KEY_LENGTH})`, {
      hint: "check that the variable or file holds the whole key",
    });
  }
  return key;
}
