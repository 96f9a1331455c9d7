/** What the user sees of each step of a run, with the live progress line and the build spinner. */
import type { LevelBytes } from "../gzip/gzip.ts";
import type { JobEvent } from "../job/job.ts";
import { mib } from "../lib/units.ts";
import { LayerBoard } from "./layer-board.ts";
import type { Output } from "./output.ts";
import { WindowRate } from "./window-rate.ts";

const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";
const BAR = 20;

/** What the JSON reports once the whole image went after all: what this run did in the end, no reuse. */
const WHOLE_IMAGE = { layersTotal: undefined, layersReused: undefined, bytesReused: undefined, baseImage: undefined };

function seconds(ms: number): string {
  return `${Math.ceil(ms / 1000)} s`;
}

/** Turns run events into lines, and keeps the run's facts for the result. */
export class Renderer {
  private ticker: ReturnType<typeof setInterval> | undefined;
  /** The reuse plan's layers, where one was made: their lines change as the builds go. */
  private layers: LayerBoard | undefined;
  private readonly noted = new Set<string>();

  constructor(
    private readonly out: Output,
    /** The image as the user named it (the engine's save line shows it). */
    private readonly localImage: string,
  ) {}

  stop(): void {
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
    this.out.clearLive();
  }

  event(e: JobEvent): void {
    const { out } = this;
    const facts = out.facts;
    // A new phase ends the live line of the last one; these only add to the one that goes on.
    if (e.type !== "poll-notice" && e.type !== "upload-retry" && e.type !== "reuse-measured") this.stop();
    if (out.events) this.progressEvent(e);
    switch (e.type) {
      case "named":
        if (e.from === "no-endpoint") out.warn(`the server has no /registry_prefix (HTTP 404): uploading as ${e.targetImage}`);
        else
          out.step(
            `Target image: ${e.targetImage} (registry prefix ${e.prefix} from ${e.from === "server" ? "the server" : "--registry-prefix"})`,
          );
        break;
      case "confirmed":
        if (e.record.exists === undefined) out.step(`Not confirmed: ${e.record.why}`);
        else {
          const size = e.record.sizeBytes === undefined ? "" : `, ${mib(e.record.sizeBytes)}`;
          Object.assign(facts, { uploadTime: e.record.uploadTime, imageSizeBytes: e.record.sizeBytes });
          out.step(`Confirmed on the Runtime-API: ${e.targetImage}${size}`);
        }
        this.layers?.built();
        this.showLayers();
        break;
      case "skipped":
        out.step(`${e.targetImage} already exists on the Runtime-API: skipping the upload (--skip-existing)`);
        break;
      case "pulling":
        out.step(`Pulling Docker image: ${e.localImage}`);
        break;
      case "asking":
        out.step(`Asking the server which bases it has (at most ${e.questions} questions)`);
        this.watchPhase("asking the server which bases it has");
        break;
      case "layers":
        // As docker push lists them: short IDs, and bases by their short name (the lines above and --json give them whole).
        this.layers = new LayerBoard(e.layers);
        this.showLayers();
        break;
      case "no-reuse":
        this.dropLayers();
        Object.assign(facts, WHOLE_IMAGE);
        out.step(`Nothing can be reused: ${e.why}; sending the whole image`);
        break;
      case "seeding": {
        this.layers?.sending(e.first, e.end);
        this.showLayers();
        const building = e.dryRun ? "would build" : "building";
        out.step(
          e.on === undefined
            ? `No base of these layers on the server yet: ${building} one of the bottom ${e.end} (${mib(e.bytes)}) as ${e.base}, for this upload and the next, then the rest on it`
            : `${building[0]?.toUpperCase()}${building.slice(1)} a base of layers ${e.first} to ${e.end - 1} (${mib(e.bytes)}) on ${e.on} as ${e.base}, for the next upload`,
        );
        break;
      }
      case "reuse": {
        const { total, reused, bytesReused, bytesSent, base } = e.reuse;
        this.layers?.sending(reused, total);
        this.showLayers();
        Object.assign(facts, { layersTotal: total, layersReused: reused, bytesReused, baseImage: base });
        const weight = (bytes: number | undefined) => (bytes === undefined ? "" : ` (${mib(bytes)})`);
        const sent = total - reused;
        const sending = `${e.dryRun ? "would send" : "sending"} ${sent} layer${sent === 1 ? "" : "s"}${weight(bytesSent)}`;
        out.step(
          e.seeded
            ? `${sending[0]?.toUpperCase()}${sending.slice(1)} on the new base of ${reused} layers${weight(bytesReused)} (${base})`
            : `Reusing ${reused} of ${total} layers${weight(bytesReused)} already on the server (${base}); ${sending}`,
        );
        break;
      }
      case "reuse-measured":
        facts.bytesReused = e.reuse.bytesReused;
        break;
      case "reuse-failed":
        this.dropLayers();
        Object.assign(facts, WHOLE_IMAGE);
        out.warn(`the build on a reused base failed (${e.why}): sending the whole image instead, once`);
        break;
      case "flattening":
        out.step(`Reading the layers of ${e.source.label} to flatten them into a Dockerfile build context`);
        this.watchPhase("reading the layers");
        break;
      case "saving":
        out.step(
          e.source.flattened
            ? `Sending ${e.source.label}`
            : e.source.kind === "engine"
              ? `Saving Docker image as tar.gz: ${this.localImage}`
              : `Reading image from ${e.source.label}`,
        );
        for (const note of e.source.notes ?? []) {
          // A reuse upload sends several contexts of one image: what is true of each is said once.
          if (!this.noted.has(note)) out.step(`Note: ${note}`);
          this.noted.add(note);
        }
        break;
      case "uploading":
        out.step(`Uploading image to Runtime-API: ${e.url}`);
        if (!out.mode.quiet) this.watchUpload(e);
        break;
      case "upload-retry": {
        const { error, retry, retries, delayMs } = e.retry;
        const what = error.code === "RATE_LIMITED" ? "rate limited" : `upload failed: ${error.message}`;
        out.warn(`${what}, retrying in ${seconds(delayMs)} (retry ${retry}/${retries})`);
        break;
      }
      case "dry-run":
      case "uploaded": {
        this.stop();
        const r = e.result;
        Object.assign(facts, { bytesRead: r.bytesRead, bytesSent: r.bytesSent, sha256: r.sha256, levels: r.levels });
        const secs = out.seconds();
        out.step(`Image saved and compressed. Size: ${r.bytesSent} bytes`);
        const levels = levelsText(r.levels);
        const numbers =
          `Read ${mib(r.bytesRead)}, ${e.type === "dry-run" ? "would send" : "sent"} ${mib(r.bytesSent)} ` +
          `(ratio ${(r.bytesRead / Math.max(1, r.bytesSent)).toFixed(2)}) in ${secs.toFixed(1)} s, ` +
          `${(r.bytesRead / 1e6 / secs).toFixed(1)} MB/s${levels ? `, ${levels}` : ""}; sha256 ${r.sha256}`;
        // A dry run's numbers are what it was run for.
        if (e.type === "dry-run") out.summary(numbers);
        else out.step(numbers);
        this.layers?.sent(r.bytesSent, e.type === "dry-run");
        this.showLayers();
        if (e.type === "uploaded") {
          Object.assign(facts, { buildId: e.result.buildId, buildKind: e.build });
          out.step(`Build initiated with ID: ${e.result.buildId}${e.build === "base" ? " (a base of this image's layers)" : ""}`);
        }
        break;
      }
      case "polling":
        facts.buildId = e.buildId;
        out.step(`Polling build status for ID: ${e.buildId}`);
        if (!out.mode.quiet) this.watchBuild();
        break;
      case "poll-notice": {
        const n = e.notice;
        if (n.kind === "status") {
          facts.status = n.status;
          out.step(`Build status: ${n.status || "(none)"}`);
        } else if (n.kind === "unknown") out.warn(`Unknown build status: ${n.status || "(missing)"}`);
        else out.warn(`status check failed (${n.error.message}), retrying in ${seconds(n.delayMs)}`);
        break;
      }
    }
  }

  /**
   * Upload progress: a live bar on a TTY, a plain line every few seconds elsewhere (CI
   * logs). The rate and ETA are over the last few seconds; before the engine's first byte
   * the line says what it waits for (dockerd writes its whole export before it streams).
   */
  private watchUpload(e: Extract<JobEvent, { type: "uploading" }>): void {
    const started = performance.now();
    const rate = new WindowRate();
    // Counted from the start until the window has filled: a read that ends within the first tick still has a rate.
    rate.sample(started, e.progress.read.bytes);
    const tty = this.out.tty;
    const line = (now: number) => {
      const { read, sent } = e.progress;
      if (read.bytes === 0 && e.from === "engine") return `waiting for docker save: ${Math.floor((now - started) / 1000)} s`;
      const perSecond = rate.perSecond();
      const ratio = sent.bytes > 0 ? ` ratio ${(read.bytes / sent.bytes).toFixed(2)},` : "";
      let of = "";
      let eta = "";
      let bar = "";
      if (e.size) {
        const done = Math.min(1, read.bytes / e.size);
        of = ` of ${mib(e.size)} (${(100 * done).toFixed(0)}%)`;
        const seconds = rate.eta(e.size - read.bytes);
        if (seconds !== undefined) eta = `, ETA ${Math.round(seconds)} s`;
        const filled = Math.round(done * BAR);
        bar = `[${"=".repeat(Math.max(0, filled - 1))}${filled > 0 ? ">" : ""}${" ".repeat(BAR - filled)}] `;
      }
      const speed = ` ${(perSecond / 1e6).toFixed(1)} MB/s${eta}`;
      const numbers = `read ${mib(read.bytes)}${of}, sent ${mib(sent.bytes)},${ratio}${speed}`;
      if (!tty) return numbers;
      // The bar only where the numbers still fit beside it; where they do not, what is sent goes first: the ETA stays.
      const room = this.out.width - 5;
      if (bar.length + numbers.length <= room) return `${bar}${numbers}`;
      return numbers.length <= room ? numbers : `read ${mib(read.bytes)}${of},${speed}`;
    };
    // The rate is sampled four times a second whatever is shown: a bar each time, an event each second, a plain line every 5 s.
    const every = this.out.events ? 4 : tty ? 1 : 20;
    let tick = 0;
    this.ticker = setInterval(() => {
      const now = performance.now();
      rate.sample(now, e.progress.read.bytes);
      if (++tick % every !== 0) return;
      if (this.out.events)
        this.out.event({ event: "bytes", read: e.progress.read.bytes, sent: e.progress.sent.bytes, total: e.size ?? null });
      else if (tty) this.out.live(`  ${line(now)}`);
      else this.out.step(line(now));
    }, 250);
    this.ticker.unref();
  }

  /** --progress json: what a machine follows, beside the human lines (each a "message" event). */
  private progressEvent(e: JobEvent): void {
    const { out } = this;
    const phase = (name: string, more: Record<string, unknown> = {}) => out.event({ event: "phase", phase: name, ...more });
    switch (e.type) {
      case "asking":
        return void phase("asking", { questions: e.questions });
      case "flattening":
        return void phase("reading");
      case "seeding":
        return void phase("building-base", { base: e.base, first: e.first, end: e.end });
      case "saving":
        return void phase("sending", { source: e.source.label });
      case "uploading":
        return void phase("uploading", { total: e.size ?? null });
      case "polling":
        return void phase("waiting-for-build", { build_id: e.buildId });
      case "layers":
        for (const l of e.layers) {
          out.event({
            event: "layer",
            position: l.position,
            diff_id: l.diffId,
            bytes: l.bytes ?? null,
            state: l.state,
            base: l.base ?? null,
          });
        }
        return;
      case "poll-notice":
        if (e.notice.kind === "status") out.event({ event: "status", status: e.notice.status });
        return;
      case "dry-run":
      case "uploaded":
        return void out.event({ event: "sent", bytes_read: e.result.bytesRead, bytes_sent: e.result.bytesSent, sha256: e.result.sha256 });
    }
  }

  /** The plan's layers: redrawn in place at a terminal; elsewhere each change once, as a line. */
  private showLayers(): void {
    if (!this.layers || this.out.events) return;
    if (this.out.tty) this.out.board(this.layers.lines());
    else for (const line of this.layers.changes()) this.out.step(line);
  }

  /** The whole image goes after all: the plan's lines stay as they were, above the line that says why. */
  private dropLayers(): void {
    this.out.endBoard();
    this.layers = undefined;
  }

  /** The upload has ended: the plan's lines stay as they end, then one line for the upload as a whole. */
  finish(): void {
    if (!this.layers) return;
    this.out.endBoard();
    this.out.step(this.layers.summary(this.out.seconds()));
    this.layers = undefined;
  }

  /** A phase that makes no bytes to count: its name and elapsed time, on a TTY only. */
  private watchPhase(label: string): void {
    if (!this.out.tty) return;
    const started = performance.now();
    let frame = 0;
    this.ticker = setInterval(() => {
      this.out.live(`${SPINNER[frame++ % SPINNER.length]} ${label}: ${Math.floor((performance.now() - started) / 1000)} s`);
    }, 100);
    this.ticker.unref();
  }

  /** While the server builds: a spinner with the elapsed time, on a TTY only. */
  private watchBuild(): void {
    if (!this.out.tty) return;
    const started = performance.now();
    let frame = 0;
    this.ticker = setInterval(() => {
      const s = Math.floor((performance.now() - started) / 1000);
      this.out.live(`${SPINNER[frame++ % SPINNER.length]} building… ${s} s (${this.out.facts.status || "waiting"})`);
    }, 100);
    this.ticker.unref();
  }
}

/** The levels an upload used, where it used more than one: "levels 1–3, mostly 1" (most of the image read at 1). */
export function levelsText(levels: LevelBytes | undefined): string | undefined {
  if (!levels || levels.size < 2) return undefined;
  const used = [...levels.keys()].sort((a, b) => a - b);
  const [mostly] = [...levels].sort((a, b) => b[1].read - a[1].read)[0] as [number, unknown];
  return `levels ${used[0]}–${used.at(-1)}, mostly ${mostly}`;
}
