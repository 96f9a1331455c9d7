/**
 * Reuse against a real builder service, end to end: an upload with --context dockerfile,
 * then the pushed image pulled back from the registry and compared with the original path
 * by path and field by field, and the bytes the server received counted on its side.
 */
import { expect } from "bun:test";
import { apiEnv, type CliOptions, runCli, type TestServer } from "./helpers.ts";
import { snapshot } from "./image-compare.ts";

/** Config fields a rebuild must carry. */
const FIELDS = ["Env", "Cmd", "Labels", "WorkingDir", "User", "OnBuild"];

/** The image's platform as dockerd records it: os/arch[/variant]. */
export function platformOf(image: string): string {
  const format = '{{.Os}}/{{.Architecture}}{{with index . "Variant"}}/{{.}}{{end}}';
  return Bun.spawnSync(["docker", "image", "inspect", image, "--format", format]).stdout.toString().trim();
}

function config(image: string): Record<string, unknown> {
  const c = JSON.parse(Bun.spawnSync(["docker", "image", "inspect", image, "--format", "{{json .Config}}"]).stdout.toString());
  const labels = { ...(c.Labels ?? {}) };
  delete labels["io.buildah.version"];
  return Object.fromEntries(FIELDS.map((k) => [k, (k === "Labels" ? (Object.keys(labels).length ? labels : null) : c[k]) || null]));
}

export interface ReuseUpload {
  stderr: string;
  /** Each upload's gzip'd bytes as the server received them, in order. */
  received: number[];
  complete: boolean[];
  json: Record<string, unknown>;
}

export interface UploadOptions {
  builder?: string;
  /** The pushed image's platform: the original's (in dockerd) unless said. */
  platform?: string;
  /** How the tool reaches the engine (--engine podman, a stand-in's PATH), where not dockerd's. */
  args?: string[];
  env?: Record<string, string>;
  /** The tool run as another user (rootless podman's). */
  as?: CliOptions["as"];
}

/**
 * Uploads `input` (its archive, or the engine's save of `local`) and checks the image the
 * server pushed against `local` in dockerd, which holds the same image.
 */
export async function uploadAndCompare(
  server: TestServer,
  made: string[],
  input: { file?: string; local: string },
  o: UploadOptions = {},
): Promise<ReuseUpload> {
  const { uploads: earlier, registryPrefix } = await server.state();
  const before = earlier.length;
  const from = input.file ? ["--input", input.file] : ["--pull", "never"];
  const args = [
    "--context",
    "dockerfile",
    "--form",
    "openhands",
    ...from,
    ...(o.args ?? []),
    input.local,
    "--json",
    "--poll-interval",
    "0.05",
  ];
  const r = await runCli(args, { env: { ...apiEnv(server), ...o.env }, as: o.as });
  expect(r.code, r.stderr).toBe(0);
  const target = `${registryPrefix}/${input.local}`;
  const json = JSON.parse(r.stdout);
  expect(json.image).toBe(target);
  made.push(target);
  const pull = Bun.spawnSync(["docker", "pull", "-q", target], { stderr: "pipe" });
  expect(pull.exitCode, pull.stderr.toString()).toBe(0);
  // README, what a rebuild does not carry: BuildKit records WORKDIR / where the image has none.
  const want = config(input.local);
  expect(config(target)).toEqual(o.builder === "buildkit" && !want.WorkingDir ? { ...want, WorkingDir: "/" } : want);
  expect(platformOf(target)).toBe(o.platform ?? platformOf(input.local));
  const [files, got] = [await snapshot(input.local), await snapshot(target)];
  expect([...got.keys()].sort()).toEqual([...files.keys()].sort());
  for (const [path, node] of files) expect({ path, ...got.get(path) }).toEqual({ path, ...node });
  const uploads = (await server.state()).uploads.slice(before);
  return { stderr: r.stderr, received: uploads.map((u) => u.gzipBytes), complete: uploads.map((u) => u.complete), json };
}
