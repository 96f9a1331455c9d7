/**
 * The connection every command makes: the endpoint from the environment or the flags (a
 * key file, a key on stdin), a private CA, and the warnings about how safely the key travels.
 */
import { type Endpoint, endpointFromEnv, validateKey } from "../api/endpoint.ts";
import { UploadError } from "../errors.ts";

/** Reads a key from a file or stdin text: one line, surrounding whitespace dropped. */
function keyFromText(text: string, from: string): string {
  return validateKey(text.trim(), from);
}

/** Rejects when `signal` fires: reading a FIFO with no writer must not outlive Ctrl-C. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
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
  if (args.apiKeyStdin) return keyFromText(await untilAborted(Bun.stdin.text(), signal), "standard input (--api-key-stdin)");
  if (!args.apiKeyFile) return undefined;
  const file = Bun.file(args.apiKeyFile);
  if (!(await file.exists())) {
    throw new UploadError("CONFIG", `--api-key-file ${args.apiKeyFile} does not exist`, {
      hint: "pass the path of a file holding the key",
    });
  }
  return keyFromText(await untilAborted(file.text(), signal), `--api-key-file ${args.apiKeyFile}`);
}

async function readCa(path: string | undefined, signal: AbortSignal): Promise<string | undefined> {
  if (!path) return undefined;
  const file = Bun.file(path);
  const text = (await file.exists()) ? await untilAborted(file.text(), signal) : "";
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
