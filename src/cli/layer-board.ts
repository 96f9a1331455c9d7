/**
 * A reuse plan as docker push shows its layers: one line per layer, whose state changes as
 * the builds go (waiting, sending, sent and building, sent), and one summary for the upload
 * as a whole. Pure: the renderer draws its lines in place at a terminal, and prints each
 * change once elsewhere.
 */
import type { LayerPlan } from "../job/job.ts";
import { mib } from "../lib/units.ts";

/** What the plan means for a layer, beside where it is in the upload. */
const PLANNED: Record<LayerPlan["state"], string> = {
  "on-server": "on the server",
  "new-base": "in a new base",
  sending: "as it is",
  flattened: "flattened with its run after what it deletes below",
};

type Progress = "on the server" | "waiting" | "sending" | "sent, building" | "sent" | "would send";

/** A digest as docker shows it: 12 hex digits. */
const short = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);

/** An image named by content, as its repository's last part and a short tag. */
const shortName = (image: string) => image.replace(/^.*\//, "").replace(/:([0-9a-f]{12})[0-9a-f]{52}$/, ":$1");

export class LayerBoard {
  private readonly rows: Array<LayerPlan & { progress: Progress; said?: Progress }>;
  /** The layers the build now under way sends. */
  private current: number[] = [];
  private builds = 0;
  private sentBytes = 0;
  private dryRun = false;

  constructor(layers: LayerPlan[]) {
    this.rows = layers.map((l) => ({ ...l, progress: l.state === "on-server" ? "on the server" : "waiting" }));
  }

  /** A build that sends layers first..end-1 begins. */
  sending(first: number, end: number): void {
    this.current = this.rows.filter((r) => r.position >= first && r.position < end && r.state !== "on-server").map((r) => r.position);
    this.mark("sending");
  }

  /** Its context is sent (or, in a dry run, measured): `bytes` went on the wire. */
  sent(bytes: number, dryRun: boolean): void {
    this.builds++;
    this.sentBytes += bytes;
    this.dryRun = dryRun;
    this.mark(dryRun ? "would send" : "sent, building");
  }

  /** Its build is done, the image it made confirmed. */
  built(): void {
    this.mark("sent");
    this.current = [];
  }

  /** Every layer's line as it stands. */
  lines(): string[] {
    return this.rows.map((r) => this.line(r));
  }

  /** The lines of layers whose state changed since the last call: what a log without a terminal is told once each. */
  changes(): string[] {
    const out = this.rows.filter((r) => r.said !== r.progress).map((r) => this.line(r));
    for (const r of this.rows) r.said = r.progress;
    return out;
  }

  /** The upload as a whole: layers reused and sent, the bytes sent of what the layers weigh, builds, time. */
  summary(seconds: number): string {
    const reused = this.rows.filter((r) => r.state === "on-server").length;
    const all = this.rows.every((r) => r.bytes !== undefined) ? this.rows.reduce((n, r) => n + (r.bytes ?? 0), 0) : undefined;
    const verb = this.dryRun ? "would send" : "sent";
    const builds = `${this.builds} build${this.builds === 1 ? "" : "s"}${this.dryRun ? " planned" : ""}`;
    return (
      `Layers: ${reused} of ${this.rows.length} on the server, ${this.rows.length - reused} ${verb}; ` +
      `${mib(this.sentBytes)} ${verb}${all === undefined ? "" : ` for an image of ${mib(all)}`}, ${builds}, ${seconds.toFixed(1)} s`
    );
  }

  private mark(progress: Progress): void {
    for (const pos of this.current) (this.rows[pos] as (typeof this.rows)[number]).progress = progress;
  }

  private line(r: LayerPlan & { progress: Progress }): string {
    const base = r.base ? ` (${shortName(r.base)})` : "";
    const plan = r.state === "on-server" ? base : ` (${PLANNED[r.state]}${r.base ? `: ${shortName(r.base)}` : ""})`;
    return `  ${short(r.diffId)}: ${r.progress}${plan}${r.bytes === undefined ? "" : `  ${mib(r.bytes)}`}`;
  }
}
