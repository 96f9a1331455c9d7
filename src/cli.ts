/**
 * The entry point, and only wiring: trap signals, parse, run one command, print its
 * failure, exit with exitCode. What each command does lives in src/commands/, and all
 * that is printed goes through src/output/.
 */
import { commandSpecs, parse } from "./cli/args.ts";
import { completionScript } from "./cli/completion.ts";
import { Output } from "./cli/output.ts";
import { statusCommand } from "./cli/status-command.ts";
import { uploadCommand } from "./cli/upload-command.ts";
import { waitCommand } from "./cli/wait-command.ts";
import { exitCode, SIGNAL_EXIT, type Signal, toUploadError, UploadError } from "./errors.ts";
import { killChildren } from "./source/engine.ts";

const out = new Output();
const controller = new AbortController();
let caught: Signal | undefined;

// Trapped before anything else runs, so a signal in any phase (reading the key, a pull) is
// honoured; a second one exits at once.
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

function fail(e: unknown): number {
  const error = toUploadError(e, { kind: "unexpected" });
  out.failure(error);
  return exitCode(error, caught);
}

/** cmd-ts's usage text, as one error for --json: the complaint itself, and where to read more. */
function usageError(text: string): UploadError {
  const said = /\^ (.+)$/m.exec(text)?.[1] ?? /^\s*\d+\. (.+)$/m.exec(text)?.[1] ?? text.split("\n")[0] ?? "";
  return new UploadError("USAGE", said.trim(), { hint: /^hint: (.+)$/m.exec(text)?.[1] });
}

async function main(argv: string[]): Promise<number> {
  const parsed = await parse(argv);
  if (parsed.kind === "text") {
    // A program that asked for events reads stderr as events alone: the usage error is the result event.
    const events = argv.some((a, i) => a === "--progress=json" || (a === "--progress" && argv[i + 1] === "json"));
    if (parsed.code === 0 || !events) out.raw(parsed.text, parsed.toStdout);
    if (parsed.code === 0) return 0;
    out.mode = { quiet: true, json: argv.includes("--json"), progress: events ? "json" : undefined };
    out.failure(usageError(parsed.text), { stderr: false });
    return parsed.code;
  }
  const { args } = parsed;
  if (args.command === "completion") {
    out.raw(completionScript(args.shell, commandSpecs()).trimEnd(), true);
    return 0;
  }
  out.mode = { quiet: args.quiet, json: args.json, progress: "progress" in args ? args.progress : undefined };
  const session = { out, signal: controller.signal };
  try {
    if (args.command === "status") await statusCommand(args, session);
    else if (args.command === "wait") await waitCommand(args, session);
    else await uploadCommand(args, session);
    return 0;
  } catch (e) {
    return fail(e);
  }
}

// A last net: whatever escapes is reported as one line, never as a stack trace with source.
process.on("unhandledRejection", (e) => {
  killChildren();
  process.exit(fail(e));
});

const code = await main(process.argv.slice(2));
// Workers or a stuck socket must not keep a finished run alive, nor an engine child outlive us.
killChildren();
process.exit(code);
