/**
 * Everything a person or a script sees goes through here: human lines on stderr, the
 * result on stdout, one JSON object with --json, a live line on a terminal. The key is
 * masked and server text escaped once, for every byte written.
 *
 *   mode      stderr                               stdout
 *   default   steps, warnings, errors with hints   the result (image name, status)
 *   --quiet   errors with hints only               the result
 *   --json    as default (or --quiet)              one JSON object, success or failure
 */
import { createConsola, type LogObject } from "consola";
import type { UploadError } from "../errors.ts";
import { redact } from "./redact.ts";
import { type RunFacts, resultJson } from "./result-json.ts";

export interface Mode {
  quiet: boolean;
  json: boolean;
}

type Sink = { write(text: string): unknown; isTTY?: boolean };

/**
 * Server text (status, error, build ID, image) reaches a terminal: a newline there would
 * fake a log line, an escape sequence would drive the terminal. --json keeps it exact.
 */
function escapeText(text: string): string {
  return inert(text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, escapeChar));
}

const escapeChar = (c: string) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`;

/**
 * A CI runner reads its logs for commands: GitHub's `::name::` at the start of a line,
 * Azure's `##vso[` and the old `##[` anywhere in one. A server that names its image or
 * status so must not steer the job (add a mask, set a variable): the `:` or `#` that
 * would start a command is written escaped, the same way as a control character.
 */
function inert(line: string): string {
  return line.replace(/^(\s*):(?=:)/, (_m, space: string) => `${space}${escapeChar(":")}`).replace(/#(?=#(vso)?\[)/g, escapeChar);
}

export class Output {
  mode: Mode = { quiet: false, json: false };
  /** What the run has learnt so far, for the JSON object and for messages. */
  readonly facts: RunFacts = {};
  readonly tty: boolean;
  private secret: string | undefined;
  private liveText = "";
  private readonly started = performance.now();
  private readonly paint: (code: string, s: string) => string;
  private readonly logger;

  constructor(
    private readonly err: Sink = process.stderr,
    private readonly out: Sink = process.stdout,
    noColor = Boolean(process.env.NO_COLOR),
  ) {
    this.tty = Boolean(err.isTTY);
    this.paint = this.tty && !noColor ? (code, s) => `\x1b[${code}m${s}\x1b[0m` : (_code, s) => s;
    this.logger = createConsola({ reporters: [{ log: (o: LogObject) => this.line(o) }] });
  }

  /** From here on the key is masked in everything written. */
  setSecret(secret: string): void {
    this.secret = secret;
  }

  /** A step of the run, in the original uploader's words where it had them. */
  step(text: string): void {
    if (!this.mode.quiet) this.logger.log(text);
  }

  warn(text: string): void {
    if (!this.mode.quiet) this.logger.warn(text);
  }

  /** A line that is itself what the user asked for (a dry run's numbers): shown even with --quiet. */
  summary(text: string): void {
    this.logger.log(text);
  }

  /** The result on stdout, for `img=$(runtime-upload …)`; --json prints the object instead. */
  result(text: string): void {
    if (!this.mode.json) this.out.write(`${escapeText(this.mask(text))}\n`);
  }

  /** The end of a successful run: the JSON object, when asked for. */
  done(): void {
    if (this.mode.json) this.writeJson(resultJson(this.facts, undefined, this.seconds()));
  }

  /** A failure: on stderr with its hint (unless already said there), and as the JSON object with --json. */
  failure(error: UploadError, o: { stderr: boolean } = { stderr: true }): void {
    this.clearLive();
    if (o.stderr) {
      this.logger.error(error.message);
      if (error.hint) this.logger.withTag("hint").error(error.hint);
    }
    if (this.mode.json) this.writeJson(resultJson(this.facts, error, this.seconds()));
  }

  /** cmd-ts's own help, version and usage text: ours, shown as written. */
  raw(text: string, toStdout: boolean): void {
    (toStdout ? this.out : this.err).write(`${text}\n`);
  }

  /** Redraws the one live line (progress, spinner) in place; terminals only. */
  live(text: string): void {
    if (!this.tty) return;
    this.liveText = text;
    this.err.write(`\r${escapeText(this.mask(text))}\x1b[K`);
  }

  clearLive(): void {
    if (!this.liveText) return;
    this.liveText = "";
    this.err.write("\r\x1b[K");
  }

  seconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  private line(o: LogObject): void {
    this.clearLive();
    const text = escapeText(this.mask(o.args.map(String).join(" ")));
    if (o.tag === "hint") return void this.err.write(`  hint: ${text}\n`);
    const prefix = o.type === "error" ? this.paint("31", "Error: ") : o.type === "warn" ? this.paint("33", "Warning: ") : "";
    this.err.write(`${prefix}${text}\n`);
  }

  private mask(text: string): string {
    return redact(text, this.secret);
  }

  /** The key is masked in each value before it is escaped, so JSON escaping cannot hide it. */
  private writeJson(value: unknown): void {
    // "#" as \u0023 is the same JSON to any parser, and no runner command to a log reader.
    const text = JSON.stringify(value, (_k, v) => (typeof v === "string" ? this.mask(v) : v)).replaceAll("#", "\\u0023");
    this.out.write(`${text}\n`);
  }
}
