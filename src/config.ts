import { UploadError } from "./errors.ts";

export type PullPolicy = "missing" | "always" | "never";

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
  return { baseUrl: normaliseBaseUrl(rawUrl), apiKey };
}

export function normaliseBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UploadError("CONFIG", `RUNTIME_API_URL is not a valid URL: ${raw}`, {
      hint: "use a full URL such as https://runtime.example.com",
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UploadError("CONFIG", `RUNTIME_API_URL must be http or https, got ${url.protocol}`, {
      hint: "use a full URL such as https://runtime.example.com",
    });
  }
  return redactUserInfo(url).replace(/\/+$/, "");
}

/** Credentials in a URL would otherwise travel into every log line that shows it. */
function redactUserInfo(url: URL): string {
  url.username = "";
  url.password = "";
  return url.toString();
}

/** Replaces every occurrence of a secret with a marker, for any text headed to the user. */
export function redact(text: string, secret: string | undefined): string {
  if (!secret) return text;
  return text.split(secret).join("***");
}

/** Reads a key from a file or stdin text: one line, surrounding whitespace dropped. */
export function keyFromText(text: string, from: string): string {
  const key = text.trim();
  if (!key || /[\r\n]/.test(key)) {
    throw new UploadError("CONFIG", `${from} must hold the API key alone on one line`, {
      hint: 'write just the key into it, e.g. printf %s "$KEY" > key.txt',
    });
  }
  return key;
}

const LOOPBACK = /^(localhost|127(\.\d+){3}|\[::1\])$/i;

/** The key travels in a header: over plain http to another host anyone on the path can read it. */
export function plainHttpWarning(baseUrl: string): string | undefined {
  const url = new URL(baseUrl);
  if (url.protocol !== "http:" || LOOPBACK.test(url.hostname)) return undefined;
  return `RUNTIME_API_URL uses plain http to ${url.host}: the API key is sent unencrypted (use https)`;
}
