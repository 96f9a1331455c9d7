/** The compiled binary against the test server process, with archives from a file or stdin. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { writeSampleImage } from "../scripts/sample-image.ts";
import { apiEnv, KEY, runCli, sha256File, startServerProcess, type TestServer, tempDir } from "./helpers.ts";

let server: TestServer;
let archive: string;
let archiveSha: string;
const FAST = ["--poll-interval", "0.05"];

beforeAll(async () => {
  server = await startServerProcess();
  archive = join(tempDir(), "sample.tar");
  await writeSampleImage(createWriteStream(archive), { size: 6 * 1024 * 1024, tag: "sample:e2e", seed: 7 });
  archiveSha = await sha256File(archive);
});
afterAll(() => server.stop());
beforeEach(() => server.reset());

/** Every run: the key must never reach the user's screen or logs. */
async function run(args: string[], env: Record<string, string | undefined> = apiEnv(server), stdin?: Blob) {
  const r = await runCli(args, { env, stdin });
  expect(r.stdout + r.stderr).not.toContain(KEY);
  return r;
}

describe("upload from an archive", () => {
  test("--input FILE arrives byte-identical with the [UP] form fields", async () => {
    const r = await run(["--input", archive, "sample:e2e", "latest", "stable", ...FAST]);
    expect(r.stderr).toContain("Build completed successfully! Image: sample:e2e");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("sample:e2e\n");
    const [up] = (await server.state()).uploads;
    expect(up?.complete).toBe(true);
    expect(up?.tarSha256).toBe(archiveSha);
    expect(up?.fields).toEqual({ target_image: ["sample:e2e"], tags_0: ["latest"], tags_1: ["stable"] });
    expect(up?.file).toEqual({ name: "context", filename: "image.tar.gz", contentType: "application/gzip" });
    expect(up?.entries).toContain("manifest.json");
  });

  test("--input - streams stdin byte-identical", async () => {
    const r = await run(["--input", "-", "sample:stdin", ...FAST], apiEnv(server), Bun.file(archive));
    expect(r.code).toBe(0);
    expect((await server.state()).uploads[0]?.tarSha256).toBe(archiveSha);
  });

  test.each([
    ["single-member gzip", ["--gzip", "single"]],
    ["one job, level 1", ["--jobs", "1", "--level", "1"]],
    ["level 9", ["--level", "9"]],
    ["level auto", ["--level", "auto"]],
  ])("%s round-trips byte-identical", async (_name, flags) => {
    const r = await run(["--input", archive, "sample:e2e", ...flags, ...FAST]);
    expect(r.code).toBe(0);
    expect((await server.state()).uploads[0]?.tarSha256).toBe(archiveSha);
  });

  test("--level auto: --json gives the bytes read and sent at each level, adding up to the whole", async () => {
    const r = await run(["--input", archive, "sample:e2e", "--level", "auto", "--json", ...FAST]);
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    const levels = json.levels as Array<{ level: number; bytes_read: number; bytes_sent: number }>;
    expect(levels.length).toBeGreaterThan(0);
    expect(levels.reduce((n, l) => n + l.bytes_read, 0)).toBe(json.bytes_read);
    const gzipBytes = (await server.state()).uploads[0]?.gzipBytes;
    expect(levels.reduce((n, l) => n + l.bytes_sent, 0)).toBe(gzipBytes as number);
  });

  test("prints the original uploader's steps in order and the key on no request but in its header", async () => {
    const r = await run(["--input", archive, "sample:e2e", "v1", "--timeout", "1", ...FAST]);
    const steps = [
      `Runtime API URL: ${server.url}`,
      "Image name: sample:e2e",
      "Uploading image to Runtime-API: ",
      "Image saved and compressed. Size: ",
      "Build initiated with ID: ",
      "Polling build status for ID: ",
      "Build status: PENDING",
      "Build status: SUCCESS",
      "Build completed successfully! Image: sample:e2e",
      "Image upload completed successfully!",
    ];
    let at = 0;
    for (const s of steps) {
      const i = r.stderr.indexOf(s, at);
      expect(i, `missing or out of order: ${s}\n${r.stderr}`).toBeGreaterThanOrEqual(0);
      at = i;
    }
    const { requests, uploads } = await server.state();
    // In the header of every request, and nowhere else: not in a query, a form field or the output.
    expect(requests.map((q) => q.key)).toEqual(requests.map(() => KEY));
    expect(requests.filter((q) => decodeURIComponent(q.query).includes(KEY))).toEqual([]);
    expect(JSON.stringify(uploads[0]?.fields)).not.toContain(KEY);
    expect(r.stdout + r.stderr).not.toContain(KEY);
  });

  test("a trailing slash on RUNTIME_API_URL is stripped", async () => {
    const r = await run(["--input", archive, "sample:e2e", ...FAST], { ...apiEnv(server), RUNTIME_API_URL: `${server.url}//` });
    expect(r.code).toBe(0);
    expect((await server.state()).requests[0]?.path).toBe("/build");
  });
});

describe("build outcomes", () => {
  test.each([["FAILURE"], ["INTERNAL_ERROR"], ["TIMEOUT"], ["CANCELLED"], ["EXPIRED"]])("terminal status %s exits 1", async (status) => {
    await server.configure({ statuses: ["RUNNING", status] });
    const r = await run(["--input", archive, "img", ...FAST]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Error: Build failed with status: ${status}`);
    expect(r.stdout).toBe("");
  });

  test("a FAILURE with an error message shows that message", async () => {
    await server.configure({ statuses: ["FAILURE:layer 3 is corrupt"] });
    const r = await run(["--input", archive, "img", ...FAST]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Error: layer 3 is corrupt");
  });

  test("an unknown status is reported once and polling goes on", async () => {
    await server.configure({ statuses: ["WARMING_UP", "WARMING_UP", "WARMING_UP", "SUCCESS"] });
    const r = await run(["--input", archive, "img", ...FAST]);
    expect(r.code).toBe(0);
    expect(r.stderr.split("Unknown build status: WARMING_UP").length - 1).toBe(1);
  });

  test("--timeout ends polling with the build id", async () => {
    await server.configure({ statuses: ["RUNNING"] });
    const r = await run(["--input", archive, "img", "--timeout", "0.01", ...FAST]);
    expect(r.code).toBe(1);
    const id = (await server.state()).uploads[0]?.id as string;
    expect(r.stderr).toContain(`gave up waiting for build ${id}`);
    expect(r.stderr).toContain("last status: RUNNING");
  });
});

describe("bad input and configuration", () => {
  test.each([
    ["RUNTIME_API_URL", "Error: RUNTIME_API_URL environment variable is required"],
    ["RUNTIME_API_KEY", "Error: RUNTIME_API_KEY environment variable is required"],
  ])("missing %s prints the original message and exits 1", async (name, message) => {
    const r = await run(["--input", archive, "img"], { ...apiEnv(server), [name]: undefined });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect((await server.state()).requests).toEqual([]);
  });

  test.each([
    ["no IMAGE", []],
    ["an unknown flag", ["img", "--frobnicate"]],
    ["--level 13", ["img", "--level", "13"]],
    ["--level fast", ["img", "--level", "fast"]],
    ["--pull sometimes", ["img", "--pull", "sometimes"]],
    ["--timeout abc", ["img", "--timeout", "abc"]],
  ])("a usage error (%s) exits 2 and sends nothing", async (_name, args) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--help");
    expect((await server.state()).requests).toEqual([]);
  });

  test("a wrong key is rejected with a clear message and never printed", async () => {
    const wrong = "rk_wrong_0123456789abcdef";
    const r = await runCli(["--input", archive, "img"], { env: apiEnv(server, wrong) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("rejected the API key (HTTP 401): Invalid API Key");
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });

  test("a missing --input file fails before anything is sent", async () => {
    const r = await run(["--input", "/nonexistent/image.tar", "img"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot read --input /nonexistent/image.tar");
    expect((await server.state()).requests).toEqual([]);
  });

  test("a wrong base URL (404) names the URL", async () => {
    const r = await run(["--input", archive, "img"], { ...apiEnv(server), RUNTIME_API_URL: `${server.url}/v9` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${server.url}/v9/build was not found (HTTP 404)`);
  });

  test("--version prints the version and commit", async () => {
    const r = await run(["--version"], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+ \(commit [0-9a-z]+\)\n$/);
  });
});

test.each([
  [[] as string[], ["USAGE:", "EXAMPLES:", "--timeout <number>", "[default: 30]", "[env: RUNTIME_UPLOAD_ENGINE]", "--json", "--dry-run"]],
  [["status"], ["BUILD_ID", "--json"]],
  [["wait"], ["BUILD_ID", "--timeout <number>"]],
])("--help for %p lists usage, examples and every option with its default", async (sub, expected) => {
  const r = await runCli([...sub, "--help"], { env: {} });
  expect(r.code).toBe(0);
  for (const s of expected) expect(r.stdout).toContain(s);
});
