/**
 * The engine's save read from its own socket, where the docker CLI says its engine is one:
 * an engine on a unix socket of this test's that answers whole, cuts its export half-way,
 * puts its error in the stream after the first bytes (what dockerd does once it has
 * flushed), refuses, or holds its answer while it writes the export; and one that breaks
 * HTTP's chunked coding mid-export. Then a real engine's API: podman's docker-compatible
 * socket (`podman system service`), the real docker CLI's engine. The compiled binary
 * and the test server as everywhere; the CLI is a stand-in that only says where the engine
 * is and what the image is.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, createWriteStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeSampleImage } from "../scripts/sample-image.ts";
import { podman, podmanEnv } from "./engine-fixture.ts";
import { apiEnv, KEY, runCli, sha256File, startServerProcess, type TestServer, tempDir, until } from "./helpers.ts";

type Mode = "whole" | "cut" | "error-in-stream" | "error-split" | "404" | "500" | "hold";

let server: TestServer;
let archive: string;
let archiveSha: string;
let env: Record<string, string>;
let cliEnv: Record<string, string>;
/** A CLI whose engine is a socket that answers a save with chunked coding that breaks after the first chunks. */
let brokenEnv: Record<string, string>;
let brokenEngine: ReturnType<typeof Bun.listen>;
let mode: Mode = "whole";
/** Each request the engine got, as its request line and headers, and whether its connection has closed. */
let seen: Array<{ head: string; closed: boolean }> = [];
let engine: ReturnType<typeof Bun.serve>;
/** What dockerd appends to an export it has begun to send, when it then fails. */
const ERROR_LINE = '{"errorDetail":{"message":"no space left on device"},"error":"no space left on device"}\r\n';

/**
 * The first `bytes` of the archive, then `end` (an error: the connection is cut; else the
 * stream ends cleanly after it: text, or texts sent 50 ms apart, so that they come in reads of their own).
 */
function export_(bytes: number, end?: Error | string | string[]): ReadableStream<Uint8Array> {
  const file = Bun.file(archive);
  let at = 0;
  return new ReadableStream({
    async pull(c) {
      if (at >= bytes) {
        if (end instanceof Error) return c.error(end);
        for (const [i, text] of [end ?? []].flat().entries()) {
          if (i > 0) await Bun.sleep(50);
          c.enqueue(new TextEncoder().encode(text));
        }
        return c.close();
      }
      const n = Math.min(256 * 1024, bytes - at);
      c.enqueue(new Uint8Array(await file.slice(at, at + n).arrayBuffer()));
      at += n;
    },
  });
}

beforeAll(async () => {
  server = await startServerProcess();
  const dir = tempDir("ru-engine-socket-");
  archive = join(dir, "image.tar");
  await writeSampleImage(createWriteStream(archive), { size: 8 * 1024 * 1024, tag: "img:1", seed: 21 });
  archiveSha = await sha256File(archive);
  const size = Bun.file(archive).size;
  engine = Bun.serve({
    unix: join(dir, "engine.sock"),
    async fetch(req) {
      const head = `${req.method} ${new URL(req.url).pathname}${new URL(req.url).search}\n${[...req.headers].map(([k, v]) => `${k}: ${v}`).join("\n")}`;
      const request = { head, closed: false };
      seen.push(request);
      req.signal.addEventListener("abort", () => (request.closed = true));
      const json = (status: number, message: string) => Response.json({ message }, { status });
      switch (mode) {
        case "whole":
          return new Response(export_(size), { headers: { "content-type": "application/x-tar" } });
        case "cut":
          return new Response(export_(3 * 1024 * 1024, new Error("this test's engine cuts its export here")));
        case "error-in-stream":
          return new Response(export_(3 * 1024 * 1024, ERROR_LINE));
        case "error-split":
          return new Response(export_(3 * 1024 * 1024 + 100, [ERROR_LINE.slice(0, 30), ERROR_LINE.slice(30)]));
        case "404":
          return json(404, "reference does not exist");
        case "500":
          return json(500, "write /var/lib/docker/tmp/docker-export-1: no space left on device");
        case "hold":
          return new Promise<Response>(() => {});
      }
    },
    // The cut is this engine's own doing: not an error to print.
    error: () => new Response(null, { status: 500 }),
  });
  /** A docker CLI stand-in in `folder` that logs its arguments, says what the image is, and runs `cases` for the rest. */
  const standIn = (folder: string, cases: string[]) => {
    const bin = join(dir, folder);
    mkdirSync(bin, { recursive: true });
    const image = `image) echo '[{"Size": ${size}, "Id": "sha256:${"c".repeat(64)}"}]'; exit 0 ;;`;
    const script = ["#!/bin/sh", 'echo "$*" >> "$CLI_LOG"', 'case "$1" in', image, ...cases, "esac", "exit 1", ""];
    writeFileSync(join(bin, "docker"), script.join("\n"));
    chmodSync(join(bin, "docker"), 0o755);
    return `${bin}:${process.env.PATH}`;
  };
  env = {
    ...apiEnv(server),
    PATH: standIn("bin", [`context) echo 'unix://${join(dir, "engine.sock")}'; exit 0 ;;`]),
    CLI_LOG: join(dir, "cli.log"),
  };
  const prefix = new Uint8Array(
    await Bun.file(archive)
      .slice(0, 3 * 0x8000)
      .arrayBuffer(),
  );
  const chunks = [0, 1, 2].map((i) =>
    Buffer.concat([Buffer.from("8000\r\n"), prefix.subarray(i * 0x8000, (i + 1) * 0x8000), Buffer.from("\r\n")]),
  );
  brokenEngine = Bun.listen({
    unix: join(dir, "broken.sock"),
    socket: {
      data(s) {
        s.write(Buffer.concat([Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), ...chunks, Buffer.from("zz\r\n")]));
      },
    },
  });
  brokenEnv = { ...env, PATH: standIn("broken-bin", [`context) echo 'unix://${join(dir, "broken.sock")}'; exit 0 ;;`]) };
  // A CLI that cannot say where its engine is, so the tool saves through it; it copies the
  // engine's error line into its output and exits 0, as the docker CLI does.
  cliEnv = {
    ...env,
    PATH: standIn("cli-bin", [`save) head -c 3145728 '${archive}'; printf '%s\r\n' '${ERROR_LINE.trim()}'; exit 0 ;;`]),
  };
}, 60_000);
afterAll(() => {
  server.stop();
  engine.stop(true);
  brokenEngine.stop(true);
});
beforeEach(async () => {
  await server.reset();
  seen = [];
  writeFileSync(env.CLI_LOG as string, "");
});

const FAST = ["img:1", "--pull", "never", "--poll-interval", "0.05"];

test("a whole export: the bytes the engine wrote, asked for as docker save asks, the key never sent to the engine", async () => {
  mode = "whole";
  const r = await runCli(FAST, { env });
  expect(r.code, r.stderr).toBe(0);
  expect((await server.state()).uploads[0]?.tarSha256).toBe(archiveSha);
  expect(seen.map((s) => s.head.split("\n")[0])).toEqual(["GET /images/get?names=img%3A1"]);
  expect(seen.map((s) => s.head).join("\n")).not.toContain(KEY);
  // No docker save: the CLI was asked where its engine is and what the image is, nothing more.
  expect(
    readFileSync(env.CLI_LOG as string, "utf8")
      .trim()
      .split("\n")
      .sort(),
  ).toEqual(["context inspect --format {{.Endpoints.docker.Host}}", "image inspect -- img:1"]);
}, 60_000);

test.each([
  ["the engine cuts its export half-way", "cut", "Error: the engine's save of img:1 ended early"],
  [
    "the engine puts its error in the stream after 3 MiB",
    "error-in-stream",
    "Error: docker save img:1 failed: the engine stopped its export and wrote why: no space left on device",
  ],
  [
    "the engine's error line comes in two reads",
    "error-split",
    "Error: docker save img:1 failed: the engine stopped its export and wrote why: no space left on device",
  ],
  ["the engine answers 404 (the image gone since it was inspected)", "404", "Error: image not found: img:1"],
  [
    "the engine answers 500",
    "500",
    "Error: docker save img:1 failed (the engine answered HTTP 500): write /var/lib/docker/tmp/docker-export-1: no space left on device",
  ],
] as const)(
  "%s: exit 1 naming it, no build started",
  async (_what, m, said) => {
    mode = m;
    const r = await runCli(FAST, { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(said);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const { uploads } = await server.state();
    expect(uploads.filter((u) => u.complete || u.id)).toEqual([]);
  },
  60_000,
);

test("an engine whose answer breaks HTTP's chunked coding after 96 KiB: exit 1 naming it, no build started", async () => {
  const r = await runCli(FAST, { env: brokenEnv });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(
    "Error: the engine's save of img:1 ended early: the engine's answer broke HTTP's chunked coding (a chunk size that is not hex, or too long)",
  );
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect((await server.state()).uploads.filter((u) => u.complete || u.id)).toEqual([]);
}, 60_000);

test("a docker CLI that copies the engine's error line into its output and exits 0: exit 1 naming the engine's message, no build started", async () => {
  const r = await runCli(FAST, { env: cliEnv });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("Error: docker save img:1 failed: the engine stopped its export and wrote why: no space left on device");
  expect((await server.state()).uploads.filter((u) => u.complete || u.id)).toEqual([]);
}, 60_000);

test("Ctrl-C while the engine writes its export (no answer yet): exit 130, and the request to the engine is closed", async () => {
  mode = "hold";
  const r = await runCli(FAST, {
    env,
    during: async (proc) => {
      await until(() => seen.length > 0, "the engine to be asked");
      proc.kill("SIGINT");
    },
  });
  expect(r.code).toBe(130);
  expect(r.stderr).toContain("interrupted by SIGINT");
  await until(() => seen[0]?.closed, "the engine's connection to close", 5_000);
  const { uploads } = await server.state();
  expect(uploads.filter((u) => u.complete || u.id)).toEqual([]);
}, 60_000);

describe.skipIf(!podmanEnv())("the docker CLI's engine is podman's docker-compatible socket", () => {
  const IMAGE = "localhost/ru-socket-podman:1";
  let service: ReturnType<typeof Bun.spawn>;
  let sock: string;
  let podmanCliEnv: Record<string, string>;

  beforeAll(async () => {
    const dir = tempDir("ru-engine-socket-podman-");
    sock = join(dir, "podman.sock");
    const file = join(dir, "image.tar");
    await writeSampleImage(createWriteStream(file), { size: 4 * 1024 * 1024, tag: IMAGE, seed: 22 });
    podman(["load", "-q", "-i", file]);
    service = Bun.spawn(["podman", "system", "service", "--time=0", `unix://${sock}`], { stdout: "ignore", stderr: "ignore" });
    await until(
      () =>
        fetch("http://podman/_ping", { unix: sock }).then(
          (r) => r.ok,
          () => false,
        ),
      "podman's API to answer",
      30_000,
    );
    // The real docker CLI, its calls logged: the tool asks it where the engine is and what the image is, never to save.
    const bin = join(dir, "bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "docker"), `#!/bin/sh\necho "$*" >> "$CLI_LOG"\nexec '${Bun.which("docker")}' "$@"\n`);
    chmodSync(join(bin, "docker"), 0o755);
    podmanCliEnv = { ...apiEnv(server), PATH: `${bin}:${process.env.PATH}`, DOCKER_HOST: `unix://${sock}`, CLI_LOG: join(dir, "cli.log") };
    writeFileSync(podmanCliEnv.CLI_LOG as string, "");
  }, 120_000);
  afterAll(async () => {
    service?.kill();
    await service?.exited;
    Bun.spawnSync(["podman", "rmi", "-f", IMAGE], { stdout: "ignore", stderr: "ignore" });
  }, 60_000);

  test("an upload: the bytes podman's API exports, read from its socket, not through docker save", async () => {
    const r = await runCli([IMAGE, "--pull", "never", "--poll-interval", "0.05"], { env: podmanCliEnv });
    expect(r.code, r.stderr).toBe(0);
    const exported = await fetch(`http://podman/images/get?names=${encodeURIComponent(IMAGE)}`, { unix: sock });
    const sha = new Bun.CryptoHasher("sha256").update(await exported.arrayBuffer()).digest("hex");
    expect((await server.state()).uploads[0]?.tarSha256).toBe(sha);
    const calls = readFileSync(podmanCliEnv.CLI_LOG as string, "utf8")
      .trim()
      .split("\n")
      .sort();
    expect(calls).toEqual(["context inspect --format {{.Endpoints.docker.Host}}", `image inspect -- ${IMAGE}`]);
  }, 120_000);
});
