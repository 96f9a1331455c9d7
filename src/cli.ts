import { runSafely } from "cmd-ts";
import { createConsola, type LogObject } from "consola";
import { type UploadArgs, uploadCommand } from "./args.ts";
import { type Endpoint, endpointFromEnv, redact } from "./config.ts";
import { type ErrorCode, UploadError } from "./errors.ts";
import { realClock } from "./retry.ts";
import { type RunEvent, runUpload } from "./run.ts";

/** The one place where error codes become exit codes. */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = { USAGE: 2 };
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

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

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function render(e: RunEvent, args: UploadArgs, started: number): void {
  switch (e.type) {
    case "pulling":
      logger.log(`Pulling Docker image: ${e.image}`);
      break;
    case "saving":
      logger.log(
        e.source.label.startsWith(args.engine)
          ? `Saving Docker image as tar.gz: ${args.image}`
          : `Reading image archive from ${e.source.label}`,
      );
      break;
    case "uploading":
      logger.log(`Uploading image to Runtime-API: ${e.url}`);
      watchProgress(e, args);
      break;
    case "uploaded": {
      const r = e.result;
      const secs = (performance.now() - started) / 1000;
      logger.log(`Image saved and compressed. Size: ${r.bytesSent} bytes`);
      if (!args.quiet) {
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
      else logger.warn(`status check failed (${n.error.message}), retrying in ${Math.ceil(n.delayMs / 1000)} s`);
      break;
    }
  }
}

let progressTimer: ReturnType<typeof setInterval> | undefined;

/** A plain line every few seconds while bytes flow, so long uploads visibly move in CI logs. */
function watchProgress(e: Extract<RunEvent, { type: "uploading" }>, args: UploadArgs): void {
  if (args.quiet) return;
  const every = process.stderr.isTTY ? 1000 : 10_000;
  progressTimer = setInterval(() => {
    const of = e.size ? ` of ${mib(e.size)}` : "";
    const line = `  read ${mib(e.progress.read.bytes)}${of}, sent ${mib(e.progress.sent.bytes)}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K`);
    else logger.log(line.trim());
  }, every);
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

async function main(argv: string[]): Promise<number> {
  const parsed = await runSafely(uploadCommand, argv);
  if (parsed._tag === "error") {
    const { exitCode, message, into } = parsed.error.config;
    (into === "stdout" ? process.stdout : process.stderr).write(`${message}\n`);
    return exitCode === 0 ? 0 : 2;
  }
  const args = parsed.value;
  if (args.quiet) logger.level = 1;

  let endpoint: Endpoint;
  try {
    endpoint = endpointFromEnv(process.env);
  } catch (e) {
    return report(e);
  }
  secret = endpoint.apiKey;

  const controller = new AbortController();
  let caught: keyof typeof SIGNAL_EXIT | undefined;
  for (const sig of Object.keys(SIGNAL_EXIT) as Array<keyof typeof SIGNAL_EXIT>) {
    process.on(sig, () => {
      if (caught) process.exit(SIGNAL_EXIT[sig]);
      caught = sig;
      controller.abort(new UploadError("INTERRUPTED", `interrupted by ${sig}`));
    });
  }

  logger.log(`Runtime API URL: ${endpoint.baseUrl}`);
  logger.log(`Image name: ${args.image}`);
  const started = performance.now();
  try {
    const result = await runUpload({
      endpoint,
      image: args.image,
      tags: args.tags,
      input: args.input,
      pull: args.pull,
      engine: { bin: args.engine },
      gzip: { mode: args.gzip, level: args.level, jobs: args.jobs, blockSize: args.blockSize },
      timeoutMs: args.timeout * 60_000,
      intervalMs: args.pollInterval * 1000,
      statusTimeoutMs: 60_000,
      clock: realClock,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === "uploaded") stopProgress();
        render(e, args, started);
      },
    });
    logger.log(`Build completed successfully! Image: ${result.image}`);
    logger.log("Image upload completed successfully!");
    process.stdout.write(`${result.image}\n`);
    return 0;
  } catch (e) {
    const code = report(e);
    return caught ? SIGNAL_EXIT[caught] : code;
  }
}

process.exitCode = await main(process.argv.slice(2));
// Workers or a stuck socket must not keep a finished run alive.
process.exit();
