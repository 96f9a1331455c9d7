/**
 * Everything a person or a script sees goes through here: human lines on stderr, the
 * result on stdout, one JSON object with --json, a live line on a terminal. The key is
 * masked and server text escaped once, for every byte written.
 *
 *   mode      stderr                               stdout
 *   default   steps, warnings, errors with hints   the result (image name, status)
 *   --quiet   errors with hints only               the result
 *   --json    as default (or --quiet)              one JSON object, success or failure
 *   --progress json: stderr holds JSON events alone, one a line (test/progress.schema.json)
 */
import { createConsola, type LogObject } from "consola";
import type { UploadError } from "../errors.ts";
import { redact } from "./redact.ts";
import { type RunFacts, resultJson } from "./result-json.ts";

/** How progress is shown on stderr: auto (a live line at a terminal), plain (lines only), json (one event a line). */
export const PROGRESS_MODES = ["auto", "plain", "json"] as const;

export interface Mode {
  quiet: boolean;
  json: boolean;
  progress?: (typeof PROGRESS_MODES)[number];
}

type Sink = { write(text: string): unknown; isTTY?: boolean; columns?: number };

/**
 * Server text (status, error, build ID, image) reaches a terminal: a newline there would
 * fake a log line, an escape sequence would drive the terminal. --json keeps it exact.
 */
function escapeText(text: string): string {
  return inert(text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, escapeChar));
}

/**
 * What JSON.stringify leaves raw that a reader of lines still splits on or obeys: C1
 * controls (U+0085 ends a line, U+009B opens a terminal command), format characters
 * (U+202E turns text around) and U+2028/U+2029. Escaped as Go's encoder (docker, gh) does,
 * and "#" too, which no runner command can then start with: the same JSON to any parser.
 */
const JSON_UNSAFE = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}#]/gu;

const escapeChar = (c: string) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`;

/** JSON's escape is of UTF-16 units: a character past U+FFFF is two. */
const escapeUnits = (c: string) => Array.from({ length: c.length }, (_, i) => escapeChar(c.charAt(i))).join("");

/**
 * A CI runner reads its logs for commands: GitHub's `::name::` at the start of a line,
 * Azure's `##vso[` and the old `##[` anywhere in one. A server that names its image or
 * status so must not steer the job (add a mask, set a variable): the `:` or `#` that
 * would start a command is written escaped, the same way as a control character.
 */
function inert(line: string): string {
  return line.replace(/^(\s*):(?=:)/, (_m, space: string) => `${space}${escapeChar(":")}`).replace(/#(?=#(vso)?\[)/g, escapeChar);
}

/** The longest start of `text` that takes at most `columns` on a terminal (a wide character takes two). */
function cutToWidth(text: string, columns: number): string {
  if (Bun.stringWidth(text) <= columns) return text;
  let used = 0;
  let end = 0;
  for (const c of text) {
    used += Bun.stringWidth(c);
    if (used > columns) break;
    end += c.length;
  }
  return text.slice(0, end);
}

export class Output {
  mode: Mode = { quiet: false, json: false };
  /** What the run has learnt so far, for the JSON object and for messages. */
  readonly facts: RunFacts = {};
  private readonly terminal: boolean;
  private secret: string | undefined;
  private liveText = "";
  private boardLines: string[] = [];
  /** The display width of each line the last draw put on the screen. */
  private drawn: number[] = [];
  private readonly started = performance.now();
  private readonly paint: (code: string, s: string) => string;
  private readonly logger;

  constructor(
    private readonly err: Sink = process.stderr,
    private readonly out: Sink = process.stdout,
    noColor = Boolean(process.env.NO_COLOR),
  ) {
    this.terminal = Boolean(err.isTTY);
    this.paint = this.terminal && !noColor ? (code, s) => `\x1b[${code}m${s}\x1b[0m` : (_code, s) => s;
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
    const result = resultJson(this.facts, undefined, this.seconds());
    this.event({ event: "result", result });
    if (this.mode.json) this.writeJson(result);
  }

  /** Whether a live line is drawn: at a terminal, unless --progress asks for plain lines or events. */
  get tty(): boolean {
    return this.terminal && (this.mode.progress ?? "auto") === "auto";
  }

  /** The terminal's width now (it may change while the run goes on). */
  get width(): number {
    // A terminal not sized yet (script, docker exec -t before a resize) says 0: unknown.
    const columns = this.err.columns;
    return columns && Number.isInteger(columns) && columns > 0 ? columns : 80;
  }

  /** Whether stderr carries JSON events (--progress json) rather than lines for a person. */
  get events(): boolean {
    return this.mode.progress === "json";
  }

  /** One progress event on stderr, with the seconds since the start (--progress json only). */
  event(fields: Record<string, unknown>): void {
    if (this.events) this.writeJson({ ...fields, time: Math.round(this.seconds() * 1000) / 1000 }, this.err);
  }

  /** A failure: on stderr with its hint (unless already said there), and as the JSON object with --json. */
  failure(error: UploadError, o: { stderr: boolean } = { stderr: true }): void {
    this.clearLive();
    const result = resultJson(this.facts, error, this.seconds());
    if (this.events) this.event({ event: "result", result });
    else if (o.stderr) {
      this.logger.error(error.message);
      if (error.hint) this.logger.withTag("hint").error(error.hint);
    }
    if (this.mode.json) this.writeJson(result);
  }

  /** cmd-ts's own help, version and usage text: ours, shown as written. */
  raw(text: string, toStdout: boolean): void {
    (toStdout ? this.out : this.err).write(`${text}\n`);
  }

  /**
   * Redraws the one live line (progress, spinner) in place, below the board; terminals
   * only. Each line is cut to the terminal's width as it is now: a line that wraps cannot be
   * redrawn in place. A terminal made narrower since the last draw has wrapped those lines
   * (tmux, VTE and most others reflow): the rows they now take are cleared from the first.
   */
  live(text: string): void {
    if (!this.tty) return;
    this.liveText = escapeText(this.mask(text));
    this.draw();
  }

  clearLive(): void {
    if (!this.liveText) return;
    this.liveText = "";
    this.draw();
  }

  /**
   * Lines that stay at the bottom above the live line and change in place (a reuse plan's
   * layers, as docker push shows its own); terminals only. Step lines go above them.
   */
  board(lines: string[]): void {
    if (!this.tty) return;
    this.boardLines = lines.map((l) => escapeText(this.mask(l)));
    this.draw();
  }

  /** The board as it stands is left above, as plain lines, and not redrawn again. */
  endBoard(): void {
    if (this.boardLines.length === 0) return;
    this.liveText = "";
    this.draw();
    this.err.write("\n");
    [this.boardLines, this.drawn] = [[], []];
  }

  /** The board and the live line, redrawn from where the last draw began. */
  private draw(): void {
    const width = this.width;
    // Room for the "^C" a terminal echoes after a line: echoed past the last column, it would wrap it.
    const lines = [...this.boardLines, ...(this.liveText ? [this.liveText] : [])].map((l) => cutToWidth(l, Math.max(1, width - 3)));
    if (lines.length === 0 && this.drawn.length === 0) return;
    this.err.write(`${this.toRegionStart(width)}${lines.join("\n")}\x1b[J`);
    this.drawn = lines.map((l) => Bun.stringWidth(l));
  }

  /** The cursor to where the last draw began, over the rows its lines wrap into at `width`. */
  private toRegionStart(width: number): string {
    const rows = this.drawn.reduce((n, w) => n + Math.max(1, Math.ceil(w / width)), 0) - 1;
    return rows > 0 ? `\r\x1b[${rows}A` : "\r";
  }

  seconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  private line(o: LogObject): void {
    // The region is cleared for the line, and the board drawn again below it.
    this.liveText = "";
    if (this.drawn.length > 0) {
      this.err.write(`${this.toRegionStart(this.width)}\x1b[J`);
      this.drawn = [];
    }
    this.say(o);
    if (this.boardLines.length > 0) this.draw();
  }

  private say(o: LogObject): void {
    if (this.events)
      return void this.event({ event: "message", level: o.type === "warn" ? "warn" : "info", text: o.args.map(String).join(" ") });
    const text = escapeText(this.mask(o.args.map(String).join(" ")));
    if (o.tag === "hint") return void this.err.write(`  hint: ${text}\n`);
    const prefix = o.type === "error" ? this.paint("31", "Error: ") : o.type === "warn" ? this.paint("33", "Warning: ") : "";
    this.err.write(`${prefix}${text}\n`);
  }

  private mask(text: string): string {
    return redact(text, this.secret);
  }

  /** The key is masked in each value before it is escaped, so JSON escaping cannot hide it. */
  private writeJson(value: unknown, to: Sink = this.out): void {
    const text = JSON.stringify(value, (_k, v) => (typeof v === "string" ? this.mask(v) : v)).replace(JSON_UNSAFE, escapeUnits);
    to.write(`${text}\n`);
  }
}
