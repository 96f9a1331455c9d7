import { runSafely } from "cmd-ts";
import { createConsola, type LogObject } from "consola";
import { getBuildStatus } from "./api.ts";
import { type StatusArgs, statusCommand, type UploadArgs, uploadCommand, type WaitArgs, waitCommand } from "./args.ts";
import { type Endpoint, endpointFromEnv, keyFromText, plainHttpWarning, redact } from "./config.ts";
import { type ErrorCode, UploadError } from "./errors.ts";
import { FAILED_STATUSES } from "./poll.ts";
import { realClock } from "./retry.ts";
import { type RunEvent, runUpload, waitForBuild } from "./run.ts";

/** The one place where error codes become exit codes. */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = { USAGE: 2 };
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;
type Signal = keyof typeof SIGNAL_EXIT;
const STATUS_TIMEOUT_MS = 60_000;

let secret: string | undefined;
const color = process.stderr.isTTY && !process.env.NO_COLOR;
const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);

// Human lines go to stderr so stdout carries only the result (the built image name).
const logger = createConsola({
  reporters: [
    {
      log(obj: LogObject) {
        const text = redact(obj.args.map(String).join(" "), secret);
        const prefix =
          obj.type === "error" || obj.type === "fatal" ? paint("31", "Error: ") : obj.type === "warn" ? paint("33", "Warning: ") : "";
        process.stderr.write(`${prefix}${text}\n`);
      },
    },
  ],
});

function out(line: string): void {
  process.stdout.write(`${redact(line, secret)}\n`);
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function seconds(ms: number): string {
  return `${Math.ceil(ms / 1000)} s`;
}

/** What the user sees for each step; the wording of the original uploader where it had one. */
function render(e: RunEvent, image: string, engine: string, quiet: boolean, started: number): void {
  switch (e.type) {
    case "pulling":
      logger.log(`Pulling Docker image: ${e.image}`);
      break;
    case "saving":
      logger.log(
        e.source.label.startsWith(engine) ? `Saving Docker image as tar.gz: ${image}` : `Reading image archive from ${e.source.label}`,
      );
      break;
    case "uploading":
      logger.log(`Uploading image to Runtime-API: ${e.url}`);
      if (!quiet) watchProgress(e);
      break;
    case "upload-retry": {
      stopProgress();
      const { error, retry, retries, delayMs } = e.retry;
      const what = error.code === "RATE_LIMITED" ? "rate limited" : `upload failed: ${error.message}`;
      logger.warn(`${what}, retrying in ${seconds(delayMs)} (retry ${retry}/${retries})`);
      break;
    }
    case "uploaded": {
      stopProgress();
      const r = e.result;
      const secs = (performance.now() - started) / 1000;
      logger.log(`Image saved and compressed. Size: ${r.bytesSent} bytes`);
      if (!quiet) {
        logger.log(
          `Read ${mib(r.bytesRead)}, sent ${mib(r.bytesSent)} (ratio ${(r.bytesRead / Math.max(1, r.bytesSent)).toFixed(2)}) ` +
            `in ${secs.toFixed(1)} s, ${(r.bytesRead / 1e6 / secs).toFixed(1)} MB/s; sha256 ${r.sha256}`,
        );
      }
      logger.log(`Build initiated with ID: ${r.buildId}`);
      break;
    }
    case "polling":
      logger.log(`Polling build status for ID: ${e.buildId}`);
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

let progressTimer: ReturnType<typeof setInterval> | undefined;

/** A plain line every few seconds while bytes flow, so long uploads visibly move in CI logs. */
function watchProgress(e: Extract<RunEvent, { type: "uploading" }>): void {
  const tty = process.stderr.isTTY;
  progressTimer = setInterval(
    () => {
      const of = e.size ? ` of ${mib(e.size)}` : "";
      const line = `read ${mib(e.progress.read.bytes)}${of}, sent ${mib(e.progress.sent.bytes)}`;
      if (tty) process.stderr.write(`\r  ${line}\x1b[K`);
      else logger.log(line);
    },
    tty ? 1000 : 10_000,
  );
  progressTimer.unref();
}

function stopProgress(): void {
  if (progressTimer === undefined) return;
  clearInterval(progressTimer);
  progressTimer = undefined;
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
}

function report(e: unknown): number {
  stopProgress();
  if (e instanceof UploadError) {
    logger.error(e.message);
    if (e.hint) logger.log(`  hint: ${e.hint}`);
    return EXIT_CODES[e.code] ?? 1;
  }
  // Unexpected: still no stack trace for the user, but enough to file a bug.
  logger.error(`unexpected failure: ${(e as Error)?.message ?? String(e)}`);
  logger.log("  hint: please report this at the project's issue tracker with the command you ran");
  return 1;
}

async function readKey(args: { apiKeyFile: string | undefined; apiKeyStdin: boolean }): Promise<string | undefined> {
  if (args.apiKeyStdin && args.apiKeyFile) throw new UploadError("USAGE", "use --api-key-file or --api-key-stdin, not both");
  if (args.apiKeyStdin) return keyFromText(await Bun.stdin.text(), "standard input (--api-key-stdin)");
  if (!args.apiKeyFile) return undefined;
  const file = Bun.file(args.apiKeyFile);
  if (!(await file.exists())) {
    throw new UploadError("CONFIG", `--api-key-file ${args.apiKeyFile} does not exist`, {
      hint: "pass the path of a file holding the key",
    });
  }
  return keyFromText(await file.text(), `--api-key-file ${args.apiKeyFile}`);
}

async function endpoint(args: { apiKeyFile: string | undefined; apiKeyStdin: boolean }): Promise<Endpoint> {
  const ep = endpointFromEnv(process.env, await readKey(args));
  secret = ep.apiKey;
  const warning = plainHttpWarning(ep.baseUrl);
  if (warning) logger.warn(warning);
  return ep;
}

/** Ctrl-C and SIGTERM abort the work in flight; a second one exits at once. */
function trapSignals(controller: AbortController): () => Signal | undefined {
  let caught: Signal | undefined;
  for (const sig of Object.keys(SIGNAL_EXIT) as Signal[]) {
    process.on(sig, () => {
      if (caught) process.exit(SIGNAL_EXIT[sig]);
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
  const ep = await endpoint(args);
  if (args.quiet) logger.level = 1;
  logger.log(`Runtime API URL: ${ep.baseUrl}`);
  logger.log(`Image name: ${args.image}`);
  const started = performance.now();
  let buildId: string | undefined;
  try {
    const result = await runUpload({
      endpoint: ep,
      image: args.image,
      tags: args.tags,
      input: args.input,
      pull: args.pull,
      engine: { bin: args.engine },
      gzip: { mode: args.gzip, level: args.level, jobs: args.jobs, blockSize: args.blockSize },
      timeoutMs: args.timeout * 60_000,
      intervalMs: args.pollInterval * 1000,
      statusTimeoutMs: STATUS_TIMEOUT_MS,
      retries: args.retries,
      stallTimeoutMs: args.stallTimeout * 1000,
      clock: realClock,
      signal,
      onEvent: (e) => {
        if (e.type === "uploaded") buildId = e.result.buildId;
        render(e, args.image, args.engine, args.quiet, started);
      },
    });
    logger.log(`Build completed successfully! Image: ${result.image}`);
    logger.log("Image upload completed successfully!");
    out(result.image);
    return 0;
  } catch (e) {
    if (buildId && e instanceof UploadError && e.code === "INTERRUPTED") {
      throw new UploadError("INTERRUPTED", `${e.message}; build ${buildId} was started and goes on on the server`, {
        hint: `resume waiting with: runtime-upload wait ${buildId}`,
      });
    }
    throw e;
  }
}

async function wait(args: WaitArgs, signal: AbortSignal): Promise<number> {
  const ep = await endpoint(args);
  if (args.quiet) logger.level = 1;
  const image = await waitForBuild(
    {
      endpoint: ep,
      timeoutMs: args.timeout * 60_000,
      intervalMs: args.pollInterval * 1000,
      statusTimeoutMs: STATUS_TIMEOUT_MS,
      clock: realClock,
      signal,
      onEvent: (e) => render(e, "", "", args.quiet, performance.now()),
    },
    args.buildId,
  );
  logger.log(`Build completed successfully! Image: ${image}`);
  out(image);
  return 0;
}

async function status(args: StatusArgs, signal: AbortSignal): Promise<number> {
  const ep = await endpoint(args);
  const s = await getBuildStatus(ep, args.buildId, STATUS_TIMEOUT_MS, signal);
  out(s.status || "(none)");
  if (s.image && s.status === "SUCCESS") logger.log(`Image: ${s.image}`);
  if (s.error) logger.log(`Error: ${s.error}`);
  return FAILED_STATUSES.has(s.status) ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
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
  const controller = new AbortController();
  const caught = trapSignals(controller);
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
  process.exit(report(e));
});

process.exitCode = await main(process.argv.slice(2));
// Workers or a stuck socket must not keep a finished run alive.
process.exit();
