/**
 * What reaches stdout and stderr, exactly, in each output mode ({default, --quiet, --json}),
 * for each outcome ({success, build failure, usage error, network error, warning}) of each
 * command ({upload, status, wait}), with the exit code. Text that varies from run to run
 * (URLs, ids, numbers, digests) is normalised first; everything else must match.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import { apiEnv, runCli, startServerProcess, type TestServer, tarOf, tempDir } from "./helpers.ts";
import schema from "./result.schema.json" with { type: "json" };

let server: TestServer;
let archive: string;
const NOWHERE = "https://runtime-upload-test.invalid";
const FAST = ["--poll-interval", "0.05"];
const validate = new Ajv().compile(schema);

beforeAll(async () => {
  server = await startServerProcess();
  archive = join(tempDir("ru-output-"), "img.tar");
  writeFileSync(archive, await tarOf({ "manifest.json": "[]", "layer.tar": "x".repeat(5000) }));
});
afterAll(() => server.stop());

function norm(text: string): string {
  return (
    text
      .replaceAll(server.url, "URL")
      .replaceAll(NOWHERE, "NOWHERE")
      .replaceAll(archive, "FILE")
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "ID")
      .replace(/[0-9a-f]{64}/g, "HASH")
      .replace(/(?<!\w)\d+(\.\d+)?/g, "N")
      // cmd-ts echoes the arguments, the mode flag among them, above its caret.
      .replace(/ --(json|quiet)\b/g, "")
      .replace(/ {2,}/g, "  ")
  );
}

const lines = (...l: string[]) => l.map((x) => `${x}\n`).join("");

const UPLOAD_STEPS = [
  "Image name: img:N",
  "Reading image from file FILE",
  "Uploading image to Runtime-API: URL/build",
  "Image saved and compressed. Size: N bytes",
  "Read N MiB, sent N MiB (ratio N) in N s, N MB/s; sha256 HASH",
  "Build initiated with ID: ID",
  "Polling build status for ID: ID",
  "Build status: RUNNING",
];
const TLS_WARNING =
  "Warning: NODE_TLS_REJECT_UNAUTHORIZED=N: the server's TLS certificate is NOT verified; anyone on the path can read the API key and change the upload";
const DNS_ERROR = [
  "Error: cannot resolve host runtime-upload-test.invalid (ENOTFOUND)",
  "  hint: check the host name in RUNTIME_API_URL and your DNS or proxy settings",
];

type Command = "upload" | "status" | "wait";
interface Case {
  /** The build `status` and `wait` look at plays these; the upload's plays RUNNING first. */
  statuses?: string[];
  args: (id: string) => string[];
  env?: Record<string, string>;
  code: number;
  /** stderr in the default mode, normalised. */
  stderr: string;
  /** stdout in the default and --quiet modes. */
  result: string;
  /** What the --json object must hold. */
  json: Record<string, unknown>;
}

const run = (cmd: Command, id: string) =>
  cmd === "upload" ? ["--input", archive, "img:1", ...FAST] : cmd === "status" ? ["status", id] : ["wait", id, ...FAST];
const usage = (cmd: Command, id: string) =>
  cmd === "upload" ? ["--input", archive, "img:1", "--level", "13"] : cmd === "status" ? ["status"] : ["wait", id, "--timeout", "abc"];

const succeeded = (env: Record<string, string> = {}, warning: string[] = []): Record<Command, Case> => ({
  upload: {
    statuses: ["SUCCESS"],
    args: (id) => run("upload", id),
    env,
    code: 0,
    stderr: lines(
      ...warning,
      "Runtime API URL: URL",
      ...UPLOAD_STEPS,
      "Build status: SUCCESS",
      "Confirmed on the Runtime-API: img:N, N MiB",
      "Build completed successfully! Image: img:N",
      "Image upload completed successfully!",
    ),
    result: "img:1\n",
    json: {
      ok: true,
      outcome: "built",
      status: "SUCCESS",
      image: "img:1",
      bytes_read: 7680,
      upload_time: "2026-01-01T00:00:00Z",
      image_size_bytes: 7680,
      error: null,
    },
  },
  status: {
    statuses: ["SUCCESS"],
    args: (id) => run("status", id),
    env,
    code: 0,
    stderr: lines(...warning, "Image: img:N"),
    result: "SUCCESS\n",
    json: { ok: true, outcome: "status", status: "SUCCESS", image: "img:1", error: null },
  },
  wait: {
    statuses: ["SUCCESS"],
    args: (id) => run("wait", id),
    env,
    code: 0,
    stderr: lines(...warning, "Polling build status for ID: ID", "Build status: SUCCESS", "Build completed successfully! Image: img:N"),
    result: "img:1\n",
    json: { ok: true, outcome: "built", status: "SUCCESS", image: "img:1", error: null },
  },
});

const failed = {
  ok: false,
  outcome: "failed",
  status: "FAILURE",
  image: null,
  error: { code: "BUILD_FAILED", message: "disk full", hint: expect.stringMatching(/^build ID: /) },
};

const table: Record<string, Record<Command, Case>> = {
  success: succeeded(),
  "build failure": {
    upload: {
      statuses: ["FAILURE:disk full"],
      args: (id) => run("upload", id),
      code: 1,
      stderr: lines("Runtime API URL: URL", ...UPLOAD_STEPS, "Build status: FAILURE", "Error: disk full", "  hint: build ID: ID"),
      result: "",
      json: failed,
    },
    status: {
      statuses: ["FAILURE:disk full"],
      args: (id) => run("status", id),
      code: 1,
      stderr: lines("Error: disk full", "  hint: build ID: ID"),
      result: "FAILURE\n",
      json: failed,
    },
    wait: {
      statuses: ["FAILURE:disk full"],
      args: (id) => run("wait", id),
      code: 1,
      stderr: lines("Polling build status for ID: ID", "Build status: FAILURE", "Error: disk full", "  hint: build ID: ID"),
      result: "",
      json: failed,
    },
  },
  "usage error": {
    upload: {
      args: (id) => usage("upload", id),
      code: 2,
      stderr: lines(
        "error: found N error",
        "",
        "  --input FILE img:N --level N",
        "  ^ --level must be auto or a whole number from N to N",
        "",
        "",
        "hint: for more information, try 'runtime-upload --help'",
      ),
      result: "",
      json: {
        ok: false,
        error: {
          code: "USAGE",
          message: "--level must be auto or a whole number from 0 to 12",
          hint: "for more information, try 'runtime-upload --help'",
        },
      },
    },
    status: {
      args: (id) => usage("status", id),
      code: 2,
      stderr: lines(
        "error: found N error",
        "",
        "  N. No value provided for BUILD_ID",
        "",
        "hint: for more information, try 'runtime-upload status --help'",
      ),
      result: "",
      json: {
        ok: false,
        error: {
          code: "USAGE",
          message: "No value provided for BUILD_ID",
          hint: "for more information, try 'runtime-upload status --help'",
        },
      },
    },
    wait: {
      args: (id) => usage("wait", id),
      code: 2,
      stderr: lines(
        "error: found N error",
        "",
        "  ID --timeout abc",
        "  ^ Not a number",
        "",
        "",
        "hint: for more information, try 'runtime-upload wait --help'",
      ),
      result: "",
      json: {
        ok: false,
        error: { code: "USAGE", message: "Not a number", hint: "for more information, try 'runtime-upload wait --help'" },
      },
    },
  },
  "network error": {
    upload: {
      args: (id) => run("upload", id),
      env: { RUNTIME_API_URL: NOWHERE },
      code: 1,
      stderr: lines("Runtime API URL: NOWHERE", ...UPLOAD_STEPS.slice(0, 3).map((l) => l.replace("URL", "NOWHERE")), ...DNS_ERROR),
      result: "",
      json: { ok: false, error: { code: "NETWORK" }, build_id: null },
    },
    status: {
      args: (id) => run("status", id),
      env: { RUNTIME_API_URL: NOWHERE },
      code: 1,
      stderr: lines(...DNS_ERROR),
      result: "",
      json: { ok: false, error: { code: "NETWORK" } },
    },
    wait: {
      args: (id) => run("wait", id),
      env: { RUNTIME_API_URL: NOWHERE },
      code: 1,
      stderr: lines("Polling build status for ID: ID", ...DNS_ERROR),
      result: "",
      json: { ok: false, error: { code: "NETWORK" }, build_id: expect.any(String) },
    },
  },
  warning: succeeded({ NODE_TLS_REJECT_UNAUTHORIZED: "0" }, [TLS_WARNING]),
};

/** --quiet keeps the errors with their hints (and cmd-ts's usage text, which is one). */
function quietStderr(c: Case): string {
  if (c.code === 2) return c.stderr;
  return lines(...c.stderr.split("\n").filter((l) => l.startsWith("Error: ") || l.startsWith("  hint: ")));
}

const rows = Object.entries(table).flatMap(([outcome, byCommand]) =>
  (Object.entries(byCommand) as Array<[Command, Case]>).flatMap(([command, c]) =>
    (["default", "--quiet", "--json"] as const).map((mode) => [`${command}, ${outcome}, ${mode}`, command, c, mode] as const),
  ),
);

describe("output modes", () => {
  test.each(rows)("%s", async (_name, command, c, mode) => {
    await server.configure({ statuses: command === "upload" ? ["RUNNING", ...(c.statuses ?? [])] : ["SUCCESS"] });
    const id = await server.build(c.statuses ?? ["SUCCESS"], "img:1");
    const r = await runCli([...c.args(id), ...(mode === "default" ? [] : [mode])], { env: { ...apiEnv(server), ...c.env } });
    expect(r.code, r.stderr).toBe(c.code);
    expect(norm(r.stderr)).toBe(mode === "--quiet" ? quietStderr(c) : c.stderr);
    if (mode !== "--json") {
      expect(r.stdout).toBe(c.result);
      return;
    }
    expect(r.stdout.endsWith("\n") && r.stdout.indexOf("\n") === r.stdout.length - 1).toBe(true);
    const obj = JSON.parse(r.stdout);
    expect(validate(obj), JSON.stringify(validate.errors)).toBe(true);
    expect(obj).toMatchObject(c.json);
  });
});
