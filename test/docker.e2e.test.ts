/** The compiled binary against a real Docker engine (started by .ci/run) and the test server. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createWriteStream, statSync } from "node:fs";
import { join } from "node:path";
import { writeSampleImage } from "../scripts/sample-image.ts";
import { gzip } from "../src/gzip/gzip.ts";
import { dockerAvailable, dockerSaveSha256, importTestImage, removeImage, wrappedDocker } from "./docker-fixture.ts";
import { apiEnv, KEY, processesMatching, runCli, startServerProcess, type TestServer, tempDir, until } from "./helpers.ts";

const hasDocker = dockerAvailable();
const TAG = `ru-e2e-${process.pid}:v1`;
const BIG = `ru-e2e-big-${process.pid}:v1`;
const FAST = ["--poll-interval", "0.05"];

describe.skipIf(!hasDocker)("with a Docker engine", () => {
  let server: TestServer;
  let saveSha: string;

  beforeAll(async () => {
    server = await startServerProcess();
    importTestImage(TAG, 12);
    importTestImage(BIG, 48);
    saveSha = await dockerSaveSha256(TAG);
  }, 120_000);
  afterAll(() => {
    server?.stop();
    removeImage(TAG);
    removeImage(BIG);
  });
  beforeEach(() => server.reset());

  async function expectNoSaveLeft() {
    expect(await processesMatching("docker save -- ru-e2e")).toEqual([]);
  }

  test("the original invocation uploads exactly what docker save produces", async () => {
    const r = await runCli([TAG, "latest", "stable", "--timeout", "1", ...FAST], { env: apiEnv(server) });
    expect(r.stderr).toContain(`Saving Docker image as tar.gz: ${TAG}`);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${TAG}\n`);
    const [up] = (await server.state()).uploads;
    expect(up?.tarSha256).toBe(saveSha);
    expect(up?.fields).toEqual({ target_image: [TAG], tags_0: ["latest"], tags_1: ["stable"] });
    expect(r.stdout + r.stderr).not.toContain(KEY);
    await expectNoSaveLeft();
  }, 60_000);

  test("a missing image fails before any byte is sent", async () => {
    const r = await runCli(["ru-e2e-missing:none", "--pull", "never"], { env: apiEnv(server) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Error: image not found: ru-e2e-missing:none");
    expect((await server.state()).requests).toEqual([]);
  });

  test("a Docker daemon that is down fails with the fix, nothing sent", async () => {
    const r = await runCli([TAG], { env: { ...apiEnv(server), DOCKER_HOST: "unix:///nonexistent/docker.sock" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Error: the docker engine is not reachable");
    expect(r.stderr).toContain("--input FILE");
    expect((await server.state()).requests).toEqual([]);
  });

  test("the save is read from the engine's own socket: no docker save child, the bytes docker save gives", async () => {
    const cli = wrappedDocker();
    const r = await runCli([TAG, ...FAST], { env: { ...apiEnv(server), ...cli.env } });
    expect(r.code, r.stderr).toBe(0);
    expect((await server.state()).uploads[0]?.tarSha256).toBe(saveSha);
    expect(cli.commands().filter((c) => c.startsWith("save"))).toEqual([]);
    expect(cli.commands()).toContain("context inspect --format {{.Endpoints.docker.Host}}");
  }, 60_000);

  test.each([
    ["a context over ssh", "ssh://builder@build-host"],
    ["a socket that is not there", "unix:///nonexistent/ru-docker.sock"],
    ["a CLI with no context command", ""],
  ])(
    "where the CLI's engine is %s, the CLI saves: the same bytes",
    async (_what, host) => {
      const cli = wrappedDocker(host);
      const r = await runCli([TAG, ...FAST], { env: { ...apiEnv(server), ...cli.env } });
      expect(r.code, r.stderr).toBe(0);
      expect((await server.state()).uploads[0]?.tarSha256).toBe(saveSha);
      expect(cli.commands()).toContain(`save -- ${TAG}`);
    },
    60_000,
  );

  // The CLI's own save (a context the tool does not open itself) is a child: it must not outlive the run.
  test("docker save killed mid-stream aborts the upload: exit 1, no build, no child left", async () => {
    // A slow reader keeps the upload in flight long enough to kill the child during it.
    await server.configure({ faults: [{ path: "/build", readRate: 8_000_000 }] });
    const r = await runCli([BIG, ...FAST], {
      env: { ...apiEnv(server), ...wrappedDocker("ssh://builder@build-host").env },
      during: async () => {
        await until(async () => ((await server.state()).uploads[0]?.bodyBytes ?? 0) > 0, "upload to start");
        const [line] = await until(async () => {
          const found = await processesMatching(`docker save -- ${BIG}`);
          return found.length > 0 ? found : undefined;
        }, "docker save to run");
        process.kill(Number(line?.split(" ")[0]), "SIGKILL");
      },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`docker save ${BIG} failed (killed by SIGKILL)`);
    const upload = await until(async () => {
      const [u] = (await server.state()).uploads;
      return u?.error ? u : undefined;
    }, "the server to see the truncated body");
    expect(upload.complete).toBe(false);
    expect(upload.id).toBeUndefined();
    await expectNoSaveLeft();
  }, 60_000);

  test("a retried upload runs docker save again from the start", async () => {
    await server.configure({ faults: [{ path: "/build", status: 503, headers: { "retry-after": "0" } }] });
    const r = await runCli([TAG, ...FAST], { env: apiEnv(server) });
    expect(r.code, r.stderr).toBe(0);
    const { uploads } = await server.state();
    expect(uploads.length).toBe(2);
    expect(uploads[1]?.tarSha256).toBe(saveSha);
    await expectNoSaveLeft();
  }, 60_000);

  test("Ctrl-C during docker save ends the child too", async () => {
    await server.configure({ faults: [{ path: "/build", readRate: 2_000_000 }] });
    const r = await runCli([BIG, ...FAST], {
      env: { ...apiEnv(server), ...wrappedDocker("ssh://builder@build-host").env },
      during: async (proc) => {
        await until(async () => ((await server.state()).uploads[0]?.bodyBytes ?? 0) > 0, "upload to start");
        await until(async () => (await processesMatching(`docker save -- ${BIG}`)).length > 0, "docker save to run");
        proc.kill("SIGINT");
      },
    });
    expect(r.code).toBe(130);
    expect(r.stderr).toContain("interrupted by SIGINT");
    await until(async () => (await processesMatching(`docker save -- ${BIG}`)).length === 0, "docker save to end", 5_000);
    expect((await server.state()).uploads.filter((u) => u.complete)).toEqual([]);
  }, 60_000);

  describe("docker load reads our multi-member gzip", () => {
    const dir = tempDir("ru-load-");
    const archive = join(dir, "image.tar");
    const LOAD_TAG = `ru-load-${process.pid}:v1`;
    let size = 0;
    beforeAll(async () => {
      await writeSampleImage(createWriteStream(archive), { size: 3 * 1024 * 1024, tag: LOAD_TAG, seed: 9 });
      size = statSync(archive).size;
    });
    afterAll(() => removeImage(LOAD_TAG));

    // Block sizes chosen against the archive's own size, so the last block is whole, one byte, or ragged;
    // each cut by the main thread from a stream (docker save) and read by the Workers from a file (--input).
    // The sample mixes text with already-compressed files, so at 64 KiB + 17 some blocks are
    // stored and others compressed, their edges mid-file; level 0 stores every block.
    const blockSizes = [
      ["the archive is exactly one block", () => size, 6],
      ["one block and 1 byte", () => size - 1, 6],
      ["many blocks, stored and compressed, the last one short", () => 65_536 + 17, 6],
      ["many blocks, all stored (--level 0)", () => 65_536 + 17, 0],
    ] as const;
    test.each(
      blockSizes.flatMap(([name, blockSize, level]) =>
        (["stream", "file"] as const).map((kind) => [name, kind, blockSize, level] as const),
      ),
    )(
      "%s, read as a %s",
      async (_name, kind, blockSize, level) => {
        removeImage(LOAD_TAG);
        const gz = join(dir, `image-${blockSize()}-${level}-${kind}.tar.gz`);
        const input = kind === "file" ? { file: archive } : Bun.file(archive).stream();
        const body = gzip(input, { mode: "parallel", level, jobs: 2, blockSize: blockSize() });
        await Bun.write(gz, new Response(body));
        const load = Bun.spawnSync(["docker", "load", "-i", gz], { stdout: "pipe", stderr: "pipe" });
        expect(load.stderr.toString()).toBe("");
        expect(load.stdout.toString()).toContain(`Loaded image: ${LOAD_TAG}`);
      },
      60_000,
    );
  });
});
