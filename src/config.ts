import { UploadError } from "./errors.ts";

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

/** The forms a key can take in text: as is, inside a JSON string, inside a URL. */
function secretForms(secret: string): string[] {
  return [...new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)])];
}

/** Replaces every occurrence of a secret, in any of its forms, with a marker, for any text headed to the user. */
export function redact(text: string, secret: string | undefined): string {
  if (!secret) return text;
  return secretForms(secret).reduce((t, form) => t.split(form).join("***"), text);
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

/** Reads a key from a file or stdin text: one line, surrounding whitespace dropped. */
function keyFromText(text: string, from: string): string {
  return validateKey(text.trim(), from);
}

/** Rejects when `signal` fires: reading a FIFO with no writer must not outlive Ctrl-C. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    p.then(resolve, reject);
  });
}

export interface ConnectionArgs {
  apiKeyFile: string | undefined;
  apiKeyStdin: boolean;
  cacert: string | undefined;
  insecure: boolean;
}

async function readKey(args: ConnectionArgs, signal: AbortSignal): Promise<string | undefined> {
  if (args.apiKeyStdin && args.apiKeyFile) throw new UploadError("USAGE", "use --api-key-file or --api-key-stdin, not both");
  if (args.apiKeyStdin) return keyFromText(await abortable(Bun.stdin.text(), signal), "standard input (--api-key-stdin)");
  if (!args.apiKeyFile) return undefined;
  const file = Bun.file(args.apiKeyFile);
  if (!(await file.exists())) {
    throw new UploadError("CONFIG", `--api-key-file ${args.apiKeyFile} does not exist`, {
      hint: "pass the path of a file holding the key",
    });
  }
  return keyFromText(await abortable(file.text(), signal), `--api-key-file ${args.apiKeyFile}`);
}

async function readCa(path: string | undefined, signal: AbortSignal): Promise<string | undefined> {
  if (!path) return undefined;
  const file = Bun.file(path);
  const text = (await file.exists()) ? await abortable(file.text(), signal) : "";
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new UploadError("CONFIG", `--cacert ${path} is not a PEM certificate file`, {
      hint: "pass the CA certificate(s) in PEM form (-----BEGIN CERTIFICATE-----), or unset SSL_CERT_FILE",
    });
  }
  return text;
}

const LOOPBACK = /^(localhost|127(\.\d+){3}|\[::1\])$/i;
const UNVERIFIED = "the server's TLS certificate is NOT verified; anyone on the path can read the API key and change the upload";

/**
 * The endpoint of every command: URL and key from the environment or the flags, a private
 * CA, and the warnings the user must see about how safely the key will travel.
 */
export async function connect(
  args: ConnectionArgs,
  env: Record<string, string | undefined>,
  signal: AbortSignal,
): Promise<{ endpoint: Endpoint; warnings: string[] }> {
  const endpoint = endpointFromEnv(env, await readKey(args, signal));
  const ca = await readCa(args.cacert, signal);
  if (ca || args.insecure) endpoint.tls = { ...(ca ? { ca } : {}), ...(args.insecure ? { rejectUnauthorized: false } : {}) };
  const warnings: string[] = [];
  if (args.insecure) warnings.push(`--insecure: ${UNVERIFIED}`);
  else if (env.NODE_TLS_REJECT_UNAUTHORIZED === "0") warnings.push(`NODE_TLS_REJECT_UNAUTHORIZED=0: ${UNVERIFIED}`);
  const url = new URL(endpoint.baseUrl);
  // The key travels in a header: over plain http to another host anyone on the path can read it.
  if (url.protocol === "http:" && !LOOPBACK.test(url.hostname)) {
    warnings.push(`RUNTIME_API_URL uses plain http to ${url.host}: the API key is sent unencrypted (use https)`);
  }
  return { endpoint, warnings };
}
