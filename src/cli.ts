import { runSafely } from "cmd-ts";
import { createConsola, type LogObject } from "consola";
import { getBuildStatus } from "./api.ts";
import { type StatusArgs, statusCommand, type UploadArgs, uploadCommand, type WaitArgs, waitCommand } from "./args.ts";
import { type Endpoint, endpointFromEnv, plainHttpWarning, readCa, readKey, redact } from "./config.ts";
import { killChildren, resolveEngine } from "./docker.ts";
import { type ErrorCode, UploadError } from "./errors.ts";
import { type FailureContext, failureJson, successJson } from "./output.ts";
import { FAILED_STATUSES } from "./poll.ts";
import { realClock } from "./retry.ts";
import { type RunEvent, runUpload, waitForBuild } from "./run.ts";

/** The one place where error codes become exit codes. */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = { USAGE: 2 };
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
type Signal = keyof typeof SIGNAL_EXIT;
const STATUS_TIMEOUT_MS = 60_000;

let secret: string | undefined;
const tty = Boolean(process.stderr.isTTY);
const color = tty && !process.env.NO_COLOR;
const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);

/** The live line (progress bar, spinner) is redrawn in place on a TTY; other lines clear it first. */
let live = "";
function drawLive(line: string): void {
  live = line;
  process.stderr.write(`\r${clean(line)}\x1b[K`);
}
function clearLive(): void {
  if (!live) return;
  live = "";
  process.stderr.write("\r\x1b[K");
}

/**
 * Server-supplied text (status, error, image, detail) reaches a terminal: a newline there
 * would fake a log line and an escape sequence would drive the terminal. --json keeps it exact.
 */
function clean(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`);
}

// Human lines go to stderr so stdout carries only the result.
const logger = createConsola({
  reporters: [
    {
      log(obj: LogObject) {
        clearLive();
        const text = clean(redact(obj.args.map(String).join(" "), secret));
        const prefix =
          obj.type === "error" || obj.type === "fatal" ? paint("31", "Error: ") : obj.type === "warn" ? paint("33", "Warning: ") : "";
        process.stderr.write(`${prefix}${text}\n`);
      },
    },
  ],
});

function out(line: string): void {
  process.stdout.write(`${clean(redact(line, secret))}\n`);
}

/** The key is masked in each value before it is escaped, so no key can slip through JSON escaping. */
function outJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v) => (typeof v === "string" ? redact(v, secret) : v))}\n`);
}

function mib(n: number): string {
  return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : `${(n / 1048576).toFixed(1)} MiB`;
}

function seconds(ms: number): string {
  return `${Math.ceil(ms / 1000)} s`;
}

let ticker: ReturnType<typeof setInterval> | undefined;
function stopTicker(): void {
  if (ticker !== undefined) clearInterval(ticker);
  ticker = undefined;
  clearLive();
}

/** Upload progress: a live line on a TTY, a plain line every few seconds elsewhere (CI logs). */
function watchUpload(e: Extract<RunEvent, { type: "uploading" }>): void {
  const started = performance.now();
  const line = () => {
    const { read, sent } = e.progress;
    const secs = (performance.now() - started) / 1000;
    const rate = read.bytes / 1e6 / Math.max(secs, 0.001);
    const ratio = sent.bytes > 0 ? ` ratio ${(read.bytes / sent.bytes).toFixed(2)},` : "";
    let of = "";
    let eta = "";
    if (e.size) {
      of = ` of ${mib(e.size)} (${Math.min(100, (100 * read.bytes) / e.size).toFixed(0)}%)`;
      if (rate > 0) eta = `, ETA ${Math.max(0, Math.round((e.size - read.bytes) / 1e6 / rate))} s`;
    }
    return `read ${mib(read.bytes)}${of}, sent ${mib(sent.bytes)},${ratio} ${rate.toFixed(1)} MB/s${eta}`;
  };
  ticker = setInterval(() => (tty ? drawLive(`  ${line()}`) : logger.log(line())), tty ? 250 : 5000);
  ticker.unref();
}

const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";
/** While the server builds: a spinner with the elapsed time, on a TTY only. */
function watchBuild(status: () => string): void {
  if (!tty) return;
  const started = performance.now();
  let frame = 0;
  ticker = setInterval(() => {
    const s = Math.floor((performance.now() - started) / 1000);
    drawLive(`${SPINNER[frame++ % SPINNER.length]} building… ${s} s (${status() || "waiting"})`);
  }, 100);
  ticker.unref();
}

/** What the user sees for each step; the wording of the original uploader where it had one. */
function render(e: RunEvent, ctx: { image: string; quiet: boolean; started: number; status: () => string }): void {
  switch (e.type) {
    case "skipped":
      logger.log(`${e.image} already exists on the Runtime-API: skipping the upload (--skip-existing)`);
      break;
    case "pulling":
      logger.log(`Pulling Docker image: ${e.image}`);
      break;
    case "saving":
      logger.log(e.source.kind === "engine" ? `Saving Docker image as tar.gz: ${ctx.image}` : `Reading image from ${e.source.label}`);
      break;
    case "uploading":
      logger.log(`Uploading image to Runtime-API: ${e.url}`);
      if (!ctx.quiet) watchUpload(e);
      break;
    case "upload-retry": {
      const { error, retry, retries, delayMs } = e.retry;
      const what = error.code === "RATE_LIMITED" ? "rate limited" : `upload failed: ${error.message}`;
      logger.warn(`${what}, retrying in ${seconds(delayMs)} (retry ${retry}/${retries})`);
      break;
    }
    case "dry-run":
    case "uploaded": {
      stopTicker();
      const r = e.result;
      const secs = (performance.now() - ctx.started) / 1000;
      logger.log(`Image saved and compressed. Size: ${r.bytesSent} bytes`);
      if (!ctx.quiet || e.type === "dry-run") {
        logger.log(
          `Read ${mib(r.bytesRead)}, ${e.type === "dry-run" ? "would send" : "sent"} ${mib(r.bytesSent)} ` +
            `(ratio ${(r.bytesRead / Math.max(1, r.bytesSent)).toFixed(2)}) in ${secs.toFixed(1)} s, ` +
            `${(r.bytesRead / 1e6 / secs).toFixed(1)} MB/s; sha256 ${r.sha256}`,
        );
      }
      if (e.type === "uploaded") logger.log(`Build initiated with ID: ${e.result.buildId}`);
      break;
    }
    case "polling":
      logger.log(`Polling build status for ID: ${e.buildId}`);
      if (!ctx.quiet) watchBuild(ctx.status);
      break;
    case "poll-notice": {
      const n = e.notice;
      if (n.kind === "status") logger.log(`Build status: ${n.status || "(none)"}`);
      else if (n.kind === "unknown") logger.warn(`Unknown build status: ${n.status || "(missing)"}`);
      else logger.warn(`status check failed (${n.error.message}), retrying in ${seconds(n.delayMs)}`);
      break;
    }
  }
}

function report(e: unknown): number {
  stopTicker();
  const error = asError(e);
  logger.error(error.message);
  if (error.hint) logger.log(`  hint: ${error.hint}`);
  return EXIT_CODES[error.code] ?? 1;
}

/** Anything that is not one of ours is a bug: one line for the user, never a stack trace. */
function asError(e: unknown): UploadError {
  if (e instanceof UploadError) return e;
  return new UploadError("INTERNAL", `unexpected failure: ${(e as Error)?.message ?? String(e)}`, {
    hint: "please report this at the project's issue tracker with the command you ran",
  });
}

interface ConnectionArgs {
  apiKeyFile: string | undefined;
  apiKeyStdin: boolean;
  cacert: string | undefined;
  insecure: boolean;
}

async function endpoint(args: ConnectionArgs, signal: AbortSignal): Promise<Endpoint> {
  const ep = endpointFromEnv(process.env, await readKey(args, signal));
  secret = ep.apiKey;
  const ca = await readCa(args.cacert, signal);
  if (ca || args.insecure) ep.tls = { ...(ca ? { ca } : {}), ...(args.insecure ? { rejectUnauthorized: false } : {}) };
  if (args.insecure) {
    logger.warn("--insecure: the server's TLS certificate is NOT verified; anyone on the path can read the API key and change the upload");
  } else if (process.env.NODE_TLS_REJECT_UNAUTHORIZED === "0") {
    logger.warn(
      "NODE_TLS_REJECT_UNAUTHORIZED=0: the server's TLS certificate is NOT verified; anyone on the path can read the API key and change the upload",
    );
  }
  const warning = plainHttpWarning(ep.baseUrl);
  if (warning) logger.warn(warning);
  return ep;
}

/** Ctrl-C, SIGTERM and SIGHUP abort the work in flight, whatever phase it is in; a second one exits at once. */
function trapSignals(controller: AbortController): () => Signal | undefined {
  let caught: Signal | undefined;
  for (const sig of Object.keys(SIGNAL_EXIT) as Signal[]) {
    process.on(sig, () => {
      if (caught) {
        killChildren();
        process.exit(SIGNAL_EXIT[sig]);
      }
      caught = sig;
      controller.abort(new UploadError("INTERRUPTED", `interrupted by ${sig}`));
    });
  }
  return () => caught;
}

async function upload(args: UploadArgs, signal: AbortSignal): Promise<number> {
  if (args.input === "-" && args.apiKeyStdin) {
    throw new UploadError("USAGE", "--input - and --api-key-stdin both want standard input", { hint: "pass the key with --api-key-file" });
  }
  if (args.quiet) logger.level = 1;
  const started = performance.now();
  const failure: FailureContext = { buildId: undefined, status: undefined, bytesRead: undefined, bytesSent: undefined, sha256: undefined };
  try {
    // A dry run talks to no server, so it needs no URL and no key.
    const ep: Endpoint = args.dryRun ? { baseUrl: "(dry run)", apiKey: "" } : await endpoint(args, signal);
    if (!args.dryRun) logger.log(`Runtime API URL: ${ep.baseUrl}`);
    logger.log(`Image name: ${args.image}`);
    const result = await runUpload({
      endpoint: ep,
      image: args.image,
      tags: args.tags,
      input: args.input,
      pull: args.pull,
      engine: resolveEngine(args.engine, Bun.which),
      gzip: { mode: args.gzip, level: args.level, jobs: args.jobs, blockSize: args.blockSize },
      form: args.form,
      dryRun: args.dryRun,
      skipExisting: args.skipExisting,
      timeoutMs: args.timeout * 60_000,
      intervalMs: args.pollInterval * 1000,
      statusTimeoutMs: STATUS_TIMEOUT_MS,
      retries: args.retries,
      stallTimeoutMs: args.stallTimeout * 1000,
      responseTimeoutMs: args.responseTimeout * 1000,
      clock: realClock,
      signal,
      onEvent: (e) => {
        if (e.type === "uploaded") Object.assign(failure, e.result);
        if (e.type === "poll-notice" && e.notice.kind === "status") failure.status = e.notice.status;
        render(e, { image: args.image, quiet: args.quiet, started, status: () => failure.status ?? "" });
      },
    });
    stopTicker();
    if (result.outcome === "built") {
      logger.log(`Build completed successfully! Image: ${result.image}`);
      logger.log("Image upload completed successfully!");
    }
    if (args.json) outJson(successJson(result, failure.status ?? null, (performance.now() - started) / 1000));
    else if (result.outcome !== "dry-run") out(result.image);
    return 0;
  } catch (e) {
    let error = asError(e);
    if (failure.buildId && error.code === "INTERRUPTED") {
      error = new UploadError("INTERRUPTED", `${error.message}; build ${failure.buildId} was started and goes on on the server`, {
        hint: `resume waiting with: runtime-upload wait ${failure.buildId}`,
      });
    }
    if (args.json) outJson(failureJson(error, failure, (performance.now() - started) / 1000));
    throw error;
  }
}

async function wait(args: WaitArgs, signal: AbortSignal): Promise<number> {
  const ep = await endpoint(args, signal);
  if (args.quiet) logger.level = 1;
  let status = "";
  const image = await waitForBuild(
    {
      endpoint: ep,
      timeoutMs: args.timeout * 60_000,
      intervalMs: args.pollInterval * 1000,
      statusTimeoutMs: STATUS_TIMEOUT_MS,
      clock: realClock,
      signal,
      onEvent: (e) => {
        if (e.type === "poll-notice" && e.notice.kind === "status") status = e.notice.status;
        render(e, { image: "", quiet: args.quiet, started: performance.now(), status: () => status });
      },
    },
    args.buildId,
  );
  stopTicker();
  logger.log(`Build completed successfully! Image: ${image}`);
  out(image);
  return 0;
}

async function status(args: StatusArgs, signal: AbortSignal): Promise<number> {
  const ep = await endpoint(args, signal);
  const s = await getBuildStatus(ep, args.buildId, STATUS_TIMEOUT_MS, signal);
  if (args.json) outJson({ build_id: args.buildId, status: s.status, image: s.image ?? null, error: s.error ?? null });
  else {
    out(s.status || "(none)");
    if (s.image && s.status === "SUCCESS") logger.log(`Image: ${s.image}`);
    if (s.error) logger.log(`Error: ${s.error}`);
  }
  return FAILED_STATUSES.has(s.status) ? 1 : 0;
}

async function main(argv: string[], controller: AbortController, caught: () => Signal | undefined): Promise<number> {
  const [first, ...rest] = argv;
  const parsed =
    first === "status"
      ? await runSafely(statusCommand, rest)
      : first === "wait"
        ? await runSafely(waitCommand, rest)
        : await runSafely(uploadCommand, argv);
  if (parsed._tag === "error") {
    const { exitCode, message, into } = parsed.error.config;
    (into === "stdout" ? process.stdout : process.stderr).write(`${message}\n`);
    return exitCode === 0 ? 0 : 2;
  }
  const args = parsed.value;
  try {
    if (args.command === "status") return await status(args, controller.signal);
    if (args.command === "wait") return await wait(args, controller.signal);
    return await upload(args, controller.signal);
  } catch (e) {
    const code = report(e);
    const sig = caught();
    return sig ? SIGNAL_EXIT[sig] : code;
  }
}

// A last net: whatever escapes is reported as one line, never as a stack trace with source.
process.on("unhandledRejection", (e) => {
  killChildren();
  process.exit(report(e));
});

// Trapped before anything else runs, so a signal in any phase (reading the key, a pull) is honoured.
const controller = new AbortController();
const caught = trapSignals(controller);
process.exitCode = await main(process.argv.slice(2), controller, caught);
// Workers or a stuck socket must not keep a finished run alive, nor an engine child outlive us.
killChildren();
process.exit();
