/**
 * An image config as Dockerfile instructions that set it again, field for field. Words a
 * builder expands ($VAR, quotes, backslashes) are quoted so they come out as they went in;
 * exec forms are JSON. What a Dockerfile cannot say (a newline in a word) is an error.
 */
import { UploadError } from "../errors.ts";

/** The root filesystem's tar inside the context. */
export const ROOTFS = "rootfs.tar";

/** A word inside double quotes: the builder's lexer unescapes exactly \\, \" and \$ there. */
function word(value: string, what: string): string {
  if (/[\r\n]/.test(value)) {
    throw new UploadError("INPUT", `the image's ${what} holds a line break, which a Dockerfile cannot carry`, {
      hint: "send the image as it is (--context image), or rebuild it without the line break",
    });
  }
  return `"${value.replace(/[\\"$]/g, "\\$&")}"`;
}

/** An exec form element that the builder also expands (VOLUME): escaped for the lexer, then JSON. */
function expandedJson(values: string[], what: string): string {
  return JSON.stringify(values.map((v) => word(v, what).slice(1, -1).replace(/'/g, "\\'")));
}

function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((s) => typeof s === "string") ? v : undefined;
}

/** Go's time.ParseDuration reads these; nanoseconds are what the config holds. */
function duration(ns: number): string {
  if (ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns % 1e6 === 0) return `${ns / 1e6}ms`;
  return `${ns}ns`;
}

function healthcheck(h: Record<string, unknown>): string | undefined {
  const test = strings(h.Test);
  if (!test || test.length === 0) return undefined;
  if (test[0] === "NONE") return "HEALTHCHECK NONE";
  const flags = (
    [
      ["interval", h.Interval],
      ["timeout", h.Timeout],
      ["start-period", h.StartPeriod],
    ] as const
  )
    .filter(([, v]) => typeof v === "number" && v > 0)
    .map(([k, v]) => `--${k}=${duration(v as number)}`);
  if (typeof h.Retries === "number" && h.Retries > 0) flags.push(`--retries=${h.Retries}`);
  const [kind, ...rest] = test;
  let cmd: string;
  if (kind === "CMD") cmd = JSON.stringify(rest);
  else if (kind === "CMD-SHELL" && rest.length === 1) {
    cmd = rest[0] as string;
    word(cmd, "HEALTHCHECK command");
  } else
    throw new UploadError("INPUT", `the image's HEALTHCHECK test ${JSON.stringify(test)} has no Dockerfile form`, {
      hint: "send the image as it is (--context image)",
    });
  return ["HEALTHCHECK", ...flags, "CMD", cmd].join(" ");
}

/** What a flattened run of layers is added on: a base the server has, and what they delete from it first. */
export interface FlattenedOn {
  from: string;
  /** Absolute paths, deleted with `rm` (exec form: no shell is needed, no word is expanded, and JSON carries any character). */
  removals: readonly string[];
  rm?: string;
  /** Deleted paths left out of the rm, which every builder mounts over in a RUN step (see segments.ts). */
  mounted?: readonly string[];
}

/** Paths per physical line of a RUN rm: each line stays short for any Dockerfile reader. */
const PATHS_PER_LINE = 16;
/**
 * The arguments of one RUN rm, in the bytes execve counts (each string, its NUL and its
 * pointer): a quarter of the 2 MiB that Linux allows a command's arguments and environment
 * together at the default 8 MiB stack, so a builder's environment never tips it over.
 */
export const RM_ARGS_BYTES = 512 * 1024;

/** The FROM line, on the image's platform where it names one (see platformNote). */
const fromLine = (from: string, platform: string | undefined) => `FROM ${platform ? `--platform=${platform} ` : ""}${from}`;

/** One `RUN rm` (exec form) per run of paths whose arguments stay within RM_ARGS_BYTES. */
function rmSteps(rm: string, paths: readonly string[]): string[] {
  const head = [rm, "-rf", "--"];
  const cost = (w: string) => Buffer.byteLength(w) + 1 + 8;
  const headBytes = head.reduce((n, w) => n + cost(w), 0);
  const steps: string[][] = [];
  let step: string[] = [];
  let bytes = headBytes;
  for (const path of paths) {
    if (step.length > 0 && bytes + cost(path) > RM_ARGS_BYTES) {
      steps.push(step);
      [step, bytes] = [[], headBytes];
    }
    step.push(path);
    bytes += cost(path);
  }
  if (step.length > 0) steps.push(step);
  return steps.map((run) => {
    const words = [...head, ...run].map((w) => JSON.stringify(w));
    const rows: string[] = [];
    for (let i = 0; i < words.length; i += PATHS_PER_LINE) rows.push(words.slice(i, i + PATHS_PER_LINE).join(", "));
    return `RUN [${rows.join(", \\\n  ")}]`;
  });
}

/**
 * The Dockerfile that rebuilds the image from ROOTFS and its config (none for a base
 * image): on scratch, or on a base, after deleting from it what the layers deleted.
 */
export function dockerfile(
  config: Record<string, unknown> | undefined,
  image: string,
  platform: string | undefined,
  on?: FlattenedOn,
): string {
  const lines = [fromLine(on?.from ?? "scratch", platform), `# ${oneLine(image)}, rebuilt from its root filesystem by runtime-upload`];
  if (on?.rm && on.removals.length > 0) lines.push(...rmSteps(on.rm, on.removals));
  lines.push(`ADD ${ROOTFS} /`);
  return `${[...lines, ...(config ? configLines(config) : [])].join("\n")}\n`;
}

/**
 * Whether the config holds ONBUILD triggers: a FROM of such an image runs them (a child
 * build does), so no context the tool writes ever builds FROM one, and no such image is
 * kept under a name to build on.
 */
/**
 * What a context on `platform` says once: that not every builder carries it. Measured here
 * (test/reuse.e2e.test.ts): buildah labels the image with the FROM's platform; the classic
 * builder and Docker 20.10's BuildKit label a FROM scratch image with their own, and an
 * image built on it inherits that.
 */
export function platformNote(platform: string | undefined): string | undefined {
  if (!platform || platform === "linux/amd64") return undefined;
  return `the image is for ${platform}: each FROM names it (FROM --platform), which buildah and current BuildKit build for, but a classic builder (and Docker 20.10's BuildKit) labels the image with its own platform`;
}

export function carriesTriggers(config: Record<string, unknown>): boolean {
  return (strings(config.OnBuild) ?? []).length > 0;
}

/** The name each layer's tar has in a layered context. */
export const layerFile = (position: number) => `layer-${position}.tar`;

/**
 * The Dockerfile that rebuilds the image on `from` (a base the server has, or scratch):
 * one ADD per layer, each its own tar, so the layers stay layers; then the config, unless
 * this is a base (a base carries no config, so none leaks into what is built on it).
 */
export function layeredDockerfile(
  from: string,
  layers: number[],
  config: Record<string, unknown> | undefined,
  image: string,
  platform: string | undefined,
): string {
  const lines = [
    fromLine(from, platform),
    `# ${oneLine(image)}, its layers ${layers.length ? `${layers[0]} to ${layers.at(-1)}` : "all in the base"} added by runtime-upload`,
  ];
  for (const position of layers) lines.push(`ADD ${layerFile(position)} /`);
  return `${[...lines, ...(config ? configLines(config) : [])].join("\n")}\n`;
}

const oneLine = (text: string) => text.replace(/[\r\n]/g, " ");

/** The image config as Dockerfile instructions that set it again, field for field. */
function configLines(config: Record<string, unknown>): string[] {
  const lines: string[] = [];
  for (const env of strings(config.Env) ?? []) {
    const eq = env.indexOf("=");
    const [k, v] = eq < 0 ? [env, ""] : [env.slice(0, eq), env.slice(eq + 1)];
    lines.push(`ENV ${word(k, `ENV ${k}`)}=${word(v, `ENV ${k}`)}`);
  }
  const labels = (config.Labels ?? {}) as Record<string, string>;
  for (const [k, v] of Object.entries(labels)) lines.push(`LABEL ${word(k, `LABEL ${k}`)}=${word(String(v), `LABEL ${k}`)}`);
  const ports = Object.keys((config.ExposedPorts ?? {}) as object);
  if (ports.length > 0) lines.push(`EXPOSE ${ports.map((p) => word(p, "EXPOSE")).join(" ")}`);
  const volumes = Object.keys((config.Volumes ?? {}) as object);
  if (volumes.length > 0) lines.push(`VOLUME ${expandedJson(volumes, "VOLUME")}`);
  if (typeof config.WorkingDir === "string" && config.WorkingDir) lines.push(`WORKDIR ${word(config.WorkingDir, "WORKDIR")}`);
  if (typeof config.User === "string" && config.User) lines.push(`USER ${word(config.User, "USER")}`);
  if (typeof config.StopSignal === "string" && config.StopSignal) lines.push(`STOPSIGNAL ${word(config.StopSignal, "STOPSIGNAL")}`);
  const shell = strings(config.Shell);
  if (shell) lines.push(`SHELL ${JSON.stringify(shell)}`);
  const check = config.Healthcheck ? healthcheck(config.Healthcheck as Record<string, unknown>) : undefined;
  if (check) lines.push(check);
  const entrypoint = strings(config.Entrypoint);
  if (entrypoint) lines.push(`ENTRYPOINT ${JSON.stringify(entrypoint)}`);
  const cmd = strings(config.Cmd);
  if (cmd) lines.push(`CMD ${JSON.stringify(cmd)}`);
  for (const trigger of strings(config.OnBuild) ?? []) {
    word(trigger, "ONBUILD");
    lines.push(`ONBUILD ${trigger}`);
  }
  return lines;
}
