/**
 * The fault table: each row is one misbehaviour of the server, the network or the user,
 * run against the compiled binary and the test server process. After every row: the key
 * is in no output, no child process and no temp file is left, and the server holds a
 * complete upload only where the row says so. README.md lists this table.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync, copyFileSync, createWriteStream, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeSampleImage } from "../scripts/sample-image.ts";
import { apiEnv, KEY, peakRss, runCli, startServerProcess, stillRunning, type TestServer, tempDir, until } from "./helpers.ts";
import { file, saveArchiveOf } from "./image-fixture.ts";
import type { Fault, ServerConfig } from "./server.ts";

let server: TestServer;
let small: string;
let big: string;
/** A copy of big that a row changes while the binary reads it. */
let changing: string;
const BIG_MIB = 320;
const FAST = ["--poll-interval", "0.05"];
let scratch: string;
/** Three layers, none on the server: a reuse upload's first build is a base of the bottom two. */
let layered: string;

beforeAll(async () => {
  server = await startServerProcess();
  const dir = tempDir("ru-faults-");
  small = join(dir, "small.tar");
  big = join(dir, "big.tar");
  changing = join(dir, "changing.tar");
  await writeSampleImage(createWriteStream(small), { size: 24 * 1024 * 1024, tag: "sample:small", seed: 3 });
  await writeSampleImage(createWriteStream(big), { size: BIG_MIB * 1024 * 1024, tag: "sample:big", seed: 4 });
  layered = join(dir, "layered.tar");
  writeFileSync(
    layered,
    await saveArchiveOf(
      [0, 1, 2].map((i) => [file(`layer-${i}.txt`, `${i}\n`)]),
      { tag: "layered:1" },
    ),
  );
}, 60_000);
afterAll(() => server.stop());
beforeEach(async () => {
  await server.reset();
  scratch = tempDir("ru-tmp-");
});
afterEach(async () => {
  expect(stillRunning()).toEqual([]);
  expect(readdirSync(scratch)).toEqual([]);
  rmSync(scratch, { recursive: true, force: true });
});

type Proc = ReturnType<typeof Bun.spawn>;

interface Row {
  name: string;
  config?: () => Partial<ServerConfig>;
  args?: () => string[];
  env?: () => Record<string, string | undefined>;
  stdin?: () => Blob;
  during?: (proc: Proc) => Promise<void>;
  code: number;
  stderr?: Array<string | RegExp>;
  /** POST /build requests the server saw. */
  attempts?: number;
  /** Uploads the server holds complete (a build was started for each). */
  complete: number;
  check?: (r: { stderr: string; stdout: string }) => void | Promise<void>;
}

const build = (f: Omit<Fault, "path">): Fault => ({ path: "/build", ...f });
const status = (f: Omit<Fault, "path">): Fault => ({ path: "/build_status", ...f });
const firstUpload = async () => (await server.state()).uploads[0];

let rss = 0;

const rows: Row[] = [
  {
    name: "429 three times with Retry-After in seconds, then success",
    config: () => ({
      faults: [build({ status: 429, headers: { "retry-after": "1" } }), build({ status: 429, headers: { "retry-after": "0" }, times: 2 })],
    }),
    code: 0,
    stderr: ["rate limited, retrying in 1 s (retry 1/5)", "rate limited, retrying in 0 s (retry 3/5)", "Build completed successfully!"],
    attempts: 4,
    complete: 1,
  },
  {
    name: "429 with Retry-After as an HTTP date, then success",
    // Whole seconds, and set before the body is sent: the wait the client computes is 0-2 s
    // (the exact arithmetic is unit-tested with an injected clock in retry.test.ts).
    config: () => ({ faults: [build({ status: 429, headers: { "retry-after": new Date(Date.now() + 2000).toUTCString() } })] }),
    code: 0,
    stderr: [/rate limited, retrying in [0-2] s \(retry 1\/5\)/],
    attempts: 2,
    complete: 1,
  },
  ...[500, 502, 503, 504, 408].map(
    (s): Row => ({
      name: `HTTP ${s} on upload, then success`,
      config: () => ({ faults: [build({ status: s, headers: { "retry-after": "0" } })] }),
      code: 0,
      stderr: [`answered HTTP ${s}`, "retrying in 0 s (retry 1/5)"],
      attempts: 2,
      complete: 1,
    }),
  ),
  {
    name: "connection reset half-way through the body, then success on retry",
    config: () => ({ faults: [build({ resetAfterBytes: 4 * 1024 * 1024 })] }),
    // Large enough that the reset comes long before the closing boundary is in the socket.
    args: () => ["--input", big, "img", ...FAST],
    code: 0,
    stderr: [/upload failed: connection to 127\.0\.0\.1:\d+ failed: ECONNRESET/, "Build completed successfully!"],
    attempts: 2,
    complete: 1,
  },
  {
    name: "a server that stops reading: --stall-timeout aborts, the source stops, the retry succeeds",
    config: () => ({ faults: [build({ stallAfterBytes: 1024 * 1024 })] }),
    args: () => ["--input", big, "img", "--stall-timeout", "1", ...FAST],
    code: 0,
    stderr: ["upload failed: the upload made no progress for 1 s"],
    attempts: 2,
    complete: 1,
    check: ({ stderr }) => {
      // Backpressure: the stalled socket stopped the reads far short of the whole archive.
      const read = Number(/no progress for 1 s \(read ([\d.]+) MiB of/.exec(stderr)?.[1]);
      expect(read).toBeLessThan(BIG_MIB / 4);
    },
  },
  {
    name: "a server that reads slowly: backpressure keeps memory flat",
    config: () => ({ faults: [build({ readRate: 60_000_000 })] }),
    args: () => ["--input", big, "img", ...FAST],
    during: async (proc) => {
      rss = await peakRss(proc);
    },
    code: 0,
    complete: 1,
    check: () => {
      // Buffering the compressed body (~120 MB) would put the peak well past this.
      expect(rss).toBeGreaterThan(0);
      expect(rss).toBeLessThan(200 * 1024 * 1024);
    },
  },
  {
    name: "503 on every attempt: gives up after --retries",
    config: () => ({ faults: [build({ status: 503, headers: { "retry-after": "0" }, times: 10 })] }),
    args: () => ["--input", small, "img", "--retries", "2", ...FAST],
    code: 1,
    stderr: ["Error: ", "answered HTTP 503", "(gave up after 3 attempts)"],
    attempts: 3,
    complete: 0,
  },
  {
    name: "stdin cannot be replayed: a transient failure says so and stops",
    config: () => ({ faults: [build({ status: 503 })] }),
    args: () => ["--input", "-", "img", ...FAST],
    stdin: () => Bun.file(small),
    code: 1,
    stderr: ["standard input, which cannot be replayed", "hint: save the archive to a file"],
    attempts: 1,
    complete: 0,
  },
  {
    name: "a 2xx without build_id is a failure",
    config: () => ({ faults: [build({ status: 200, body: '{"ok":true}' })] }),
    code: 1,
    stderr: [/Error: No build_id in response from http:\/\/127\.0\.0\.1:\d+\/build \(HTTP 200\)/],
    attempts: 1,
    complete: 0,
  },
  {
    name: "403: the key is rejected, not retried",
    config: () => ({ faults: [build({ status: 403, body: '{"detail":"key revoked"}' })] }),
    code: 1,
    stderr: ["rejected the API key (HTTP 403): key revoked", "hint: check RUNTIME_API_KEY"],
    attempts: 1,
    complete: 0,
  },
  {
    name: "413 answered before the body is read: too large, not retried",
    config: () => ({ faults: [build({ status: 413, early: true, body: '{"detail":"limit is 1 GB"}' })] }),
    code: 1,
    stderr: ["too large (HTTP 413): limit is 1 GB"],
    attempts: 1,
    complete: 0,
  },
  {
    name: "400 with a detail shows the detail, not retried",
    config: () => ({ faults: [build({ status: 400, body: '{"detail":"target_image is not a valid reference"}' })] }),
    code: 1,
    stderr: ["answered HTTP 400: target_image is not a valid reference"],
    attempts: 1,
    complete: 0,
  },
  {
    name: "malformed JSON from /build_status is retried",
    config: () => ({ faults: [status({ body: "{not json" })] }),
    code: 0,
    stderr: ["status check failed (malformed JSON", "Build completed successfully!"],
    complete: 1,
  },
  {
    name: "503 and 429 from /build_status are retried within --timeout",
    config: () => ({ faults: [status({ status: 503 }), status({ status: 429, headers: { "retry-after": "0" } })] }),
    code: 0,
    stderr: ["status check failed (http://", "answered HTTP 503", "rate limited by the Runtime-API (HTTP 429)"],
    complete: 1,
  },
  {
    name: "401 from /build_status ends polling",
    config: () => ({ faults: [status({ status: 401, body: '{"detail":"expired"}' })] }),
    code: 1,
    stderr: ["rejected the API key (HTTP 401): expired"],
    complete: 1,
  },
  {
    name: "Ctrl-C mid-upload exits 130 and leaves no complete upload",
    config: () => ({ faults: [build({ readRate: 5_000_000 })] }),
    args: () => ["--input", big, "img", ...FAST],
    during: async (proc) => {
      await until(async () => ((await firstUpload())?.bodyBytes ?? 0) > 0, "the upload to start");
      proc.kill("SIGINT");
    },
    code: 130,
    stderr: ["Error: interrupted by SIGINT"],
    attempts: 1,
    complete: 0,
  },
  ...(
    [
      ["cut short", (f: string) => truncateSync(f, 48 * 1024 * 1024)],
      ["grown", (f: string) => appendFileSync(f, Buffer.alloc(1024 * 1024))],
    ] as const
  ).map(
    ([how, change]): Row => ({
      name: `an --input file ${how} while it is read: a clear error, no build, no retry`,
      config: () => ({ faults: [build({ readRate: 20_000_000 })] }),
      args: () => {
        copyFileSync(big, changing);
        return ["--input", changing, "img", ...FAST];
      },
      during: async () => {
        await until(async () => ((await firstUpload())?.bodyBytes ?? 0) > 0, "the upload to start");
        change(changing);
      },
      code: 1,
      stderr: [
        /file .*changing\.tar changed while it was read: \d+ bytes read, \d+ expected/,
        "hint: wait until whatever writes the archive",
      ],
      attempts: 1,
      complete: 0,
    }),
  ),
  {
    name: "SIGTERM while polling exits 143 with the build id and how to resume",
    config: () => ({ statuses: ["RUNNING"] }),
    during: async (proc) => {
      await until(async () => ((await firstUpload())?.statusCalls ?? 0) > 0, "polling to start");
      proc.kill("SIGTERM");
    },
    code: 143,
    stderr: [/interrupted by SIGTERM; build [0-9a-f-]+ was started/, /hint: resume waiting with: runtime-upload wait [0-9a-f-]+/],
    complete: 1,
  },
  ...(["SIGTERM", "--timeout"] as const).map(
    (how): Row => ({
      name: `${how} while a reuse upload's first build (a base) runs: said to be a base, the upload to run again, no wait hint; --json says so`,
      config: () => ({ statuses: ["RUNNING"] }),
      args: () => [
        ...["--input", layered, "layered:1", "--context", "dockerfile", "--form", "openhands"],
        ...["--registry-prefix", "reg.test/runtime", "--json", ...FAST, ...(how === "--timeout" ? ["--timeout", "0.01"] : [])],
      ],
      during:
        how === "SIGTERM"
          ? async (proc) => {
              await until(async () => ((await firstUpload())?.statusCalls ?? 0) > 0, "polling to start");
              proc.kill("SIGTERM");
            }
          : undefined,
      code: how === "SIGTERM" ? 143 : 1,
      stderr: [/build [0-9a-f-]+ was of a base of this image's layers, not of the image/, "hint: run the same upload again"],
      complete: 1,
      check: (r) => {
        expect(r.stderr).not.toContain("runtime-upload wait");
        expect(JSON.parse(r.stdout)).toMatchObject({
          ok: false,
          build_kind: "base",
          error: { code: how === "SIGTERM" ? "INTERRUPTED" : "TIMEOUT" },
        });
      },
    }),
  ),
  {
    name: "connection refused: retried, then a clear error",
    env: () => ({ ...apiEnv(server), RUNTIME_API_URL: "http://127.0.0.1:1" }),
    args: () => ["--input", small, "img", "--retries", "1"],
    code: 1,
    stderr: ["connection to 127.0.0.1:1 failed: ECONNREFUSED", "(gave up after 2 attempts)"],
    complete: 0,
  },
  {
    name: "an unknown host: the name, a warning for plain http, no retry",
    env: () => ({ ...apiEnv(server), RUNTIME_API_URL: "http://runtime-upload-test.invalid" }),
    code: 1,
    stderr: ["Warning: RUNTIME_API_URL uses plain http to runtime-upload-test.invalid", "cannot resolve host runtime-upload-test.invalid"],
    complete: 0,
  },
  {
    name: "TLS to a server that does not speak it: named, not retried",
    env: () => ({ ...apiEnv(server), RUNTIME_API_URL: server.url.replace("http:", "https:") }),
    code: 1,
    stderr: [/TLS failed for 127\.0\.0\.1:\d+/, "hint: for a private CA pass --cacert FILE"],
    attempts: 0,
    complete: 0,
  },
  {
    name: "--timeout while polling names the build and how to wait again",
    config: () => ({ statuses: ["RUNNING"] }),
    args: () => ["--input", small, "img", "--timeout", "0.01", ...FAST],
    code: 1,
    stderr: [/gave up waiting for build [0-9a-f-]+ after 0\.0 minutes \(last status: RUNNING\)/, "runtime-upload wait "],
    complete: 1,
  },
];

describe("fault table", () => {
  test.each(rows.map((r) => [r.name, r] as const))(
    "%s",
    async (_name, row) => {
      if (row.config) await server.configure(row.config());
      const r = await runCli(row.args?.() ?? ["--input", small, "img", ...FAST], {
        env: { ...(row.env?.() ?? apiEnv(server)), TMPDIR: scratch },
        stdin: row.stdin?.(),
        during: row.during,
      });
      for (const s of row.stderr ?? []) {
        if (typeof s === "string") expect(r.stderr).toContain(s);
        else expect(r.stderr).toMatch(s);
      }
      expect(r.code, r.stderr).toBe(row.code);
      expect(r.stdout + r.stderr).not.toContain(KEY);
      expect(r.stderr).not.toMatch(/^\s+at .+:\d+/m);
      const state = await server.state();
      if (row.attempts !== undefined) expect(state.requests.filter((q) => q.path === "/build").length).toBe(row.attempts);
      expect(state.uploads.filter((u) => u.complete).length).toBe(row.complete);
      await row.check?.(r);
    },
    60_000,
  );
});

describe("the key and the build id commands", () => {
  test("--api-key-file and --api-key-stdin carry the key; it is never printed", async () => {
    const file = join(tempDir(), "key");
    writeFileSync(file, `${KEY}\n`);
    const env = { RUNTIME_API_URL: server.url, TMPDIR: scratch };
    const viaFile = await runCli(["--input", small, "img", "--api-key-file", file, ...FAST], { env });
    expect(viaFile.code, viaFile.stderr).toBe(0);
    const viaStdin = await runCli(["--input", small, "img", "--api-key-stdin", ...FAST], { env, stdin: new Blob([KEY]) });
    expect(viaStdin.code, viaStdin.stderr).toBe(0);
    expect((await server.state()).requests.every((q) => q.key === KEY)).toBe(true);
    for (const r of [viaFile, viaStdin]) expect(r.stdout + r.stderr).not.toContain(KEY);
  }, 30_000);

  test("status BUILD_ID prints the status; wait BUILD_ID resumes to SUCCESS", async () => {
    await server.configure({ statuses: ["RUNNING", "RUNNING", "RUNNING", "SUCCESS"] });
    const first = await runCli(["--input", small, "img", "--timeout", "0.002", "--poll-interval", "1"], {
      env: { ...apiEnv(server), TMPDIR: scratch },
    });
    expect(first.code).toBe(1);
    const id = /runtime-upload wait ([0-9a-f-]+)/.exec(first.stderr)?.[1] as string;
    expect(id).toBe((await firstUpload())?.id as string);
    const s = await runCli(["status", id], { env: apiEnv(server) });
    expect([s.code, s.stdout]).toEqual([0, "RUNNING\n"]);
    const w = await runCli(["wait", id, ...FAST], { env: apiEnv(server) });
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toBe("img\n");
    expect(w.stderr).toContain("Build status: SUCCESS");
  }, 30_000);

  test("wait for a build the server does not know ends with 404 and the fix", async () => {
    const r = await runCli(["wait", "no-such-build", ...FAST], { env: apiEnv(server) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("build no-such-build was not found");
    expect(r.stderr).toContain("hint: check the build ID");
  });
});
