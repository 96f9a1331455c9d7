/** What the user sees of each step of a run, with the live progress line and the build spinner. */
import type { JobEvent } from "../job/job.ts";
import { mib } from "../lib/units.ts";
import type { Output } from "./output.ts";

const SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

/** What the JSON reports once the whole image went after all: what this run did in the end, no reuse. */
const WHOLE_IMAGE = { layersTotal: undefined, layersReused: undefined, bytesReused: undefined, baseImage: undefined };

function seconds(ms: number): string {
  return `${Math.ceil(ms / 1000)} s`;
}

/** Turns run events into lines, and keeps the run's facts for the result. */
export class Renderer {
  private ticker: ReturnType<typeof setInterval> | undefined;

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
        break;
      case "skipped":
        out.step(`${e.targetImage} already exists on the Runtime-API: skipping the upload (--skip-existing)`);
        break;
      case "pulling":
        out.step(`Pulling Docker image: ${e.localImage}`);
        break;
      case "no-reuse":
        Object.assign(facts, WHOLE_IMAGE);
        out.step(`Nothing can be reused: ${e.why}; sending the whole image`);
        break;
      case "seeding":
        out.step(
          `No base of these layers on the server yet: ${e.dryRun ? "would build" : "building"} one of the bottom ${e.layers} (${mib(e.bytes)}) as ${e.base}, for this upload and the next, then the rest on it`,
        );
        break;
      case "reuse": {
        const { total, reused, bytesReused, bytesSent, base } = e.reuse;
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
        Object.assign(facts, WHOLE_IMAGE);
        out.warn(`the build on a reused base failed (${e.why}): sending the whole image instead, once`);
        break;
      case "flattening":
        out.step(`Reading the layers of ${e.source.label} to flatten them into a Dockerfile build context`);
        break;
      case "saving":
        out.step(
          e.source.flattened
            ? `Sending ${e.source.label}`
            : e.source.kind === "engine"
              ? `Saving Docker image as tar.gz: ${this.localImage}`
              : `Reading image from ${e.source.label}`,
        );
        if (e.source.note) out.step(`Note: ${e.source.note}`);
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
        Object.assign(facts, { bytesRead: r.bytesRead, bytesSent: r.bytesSent, sha256: r.sha256 });
        const secs = out.seconds();
        out.step(`Image saved and compressed. Size: ${r.bytesSent} bytes`);
        const numbers =
          `Read ${mib(r.bytesRead)}, ${e.type === "dry-run" ? "would send" : "sent"} ${mib(r.bytesSent)} ` +
          `(ratio ${(r.bytesRead / Math.max(1, r.bytesSent)).toFixed(2)}) in ${secs.toFixed(1)} s, ` +
          `${(r.bytesRead / 1e6 / secs).toFixed(1)} MB/s; sha256 ${r.sha256}`;
        // A dry run's numbers are what it was run for.
        if (e.type === "dry-run") out.summary(numbers);
        else out.step(numbers);
        if (e.type === "uploaded") {
          facts.buildId = e.result.buildId;
          out.step(`Build initiated with ID: ${e.result.buildId}`);
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

  /** Upload progress: a live line on a TTY, a plain line every few seconds elsewhere (CI logs). */
  private watchUpload(e: Extract<JobEvent, { type: "uploading" }>): void {
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
    const tty = this.out.tty;
    this.ticker = setInterval(() => (tty ? this.out.live(`  ${line()}`) : this.out.step(line())), tty ? 250 : 5000);
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
