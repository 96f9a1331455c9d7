/**
 * The GitHub Action's script (action/run.sh) under a simulated runner: temp GITHUB_OUTPUT,
 * GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY, RUNNER_TEMP and RUNNER_TOOL_CACHE, the real
 * release archive on a loopback mirror, and the test Runtime-API. After every run the key
 * is in no line of anything the runner would show, but the one ::add-mask:: command.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { archive, TARGETS, writeActionSums, writeSums } from "../build.ts";
import pkg from "../package.json" with { type: "json" };
import { BIN, KEY, ROOT, startServerProcess, type TestServer, tampered, tarOf, tempDir } from "./helpers.ts";

const PLATFORM = `${process.platform}-${process.arch}`;
const NAME = `runtime-upload-${PLATFORM}.tar.gz`;
const FAST = "0.05";

let server: TestServer;
let mirror: ReturnType<typeof Bun.serve>;
let good: string;
let sum: string;
let image: string;
const downloads: string[] = [];

beforeAll(async () => {
  const release = tempDir("ru-action-release-");
  await writeSums(release, [await archive(BIN, PLATFORM, release)]);
  sum = readFileSync(join(release, "SHA256SUMS"), "utf8").split(/\s+/)[0] as string;
  good = join(release, NAME);
  const bad = tampered(good);
  mirror = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      downloads.push(path);
      if (path === `/good/${NAME}`) return new Response(Bun.file(good));
      if (path === `/bad/${NAME}`) return new Response(bad);
      return new Response("not found", { status: 404 });
    },
  });
  server = await startServerProcess();
  image = join(tempDir("ru-action-img-"), "img.tar");
  writeFileSync(image, await tarOf({ "manifest.json": "[]", "layer.tar": "x".repeat(5000) }));
}, 120_000);
afterAll(() => {
  mirror.stop(true);
  server.stop();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  path: string;
  cwd: string;
}

/** Runs action/run.sh as the runner would, with these inputs; `cache` is RUNNER_TOOL_CACHE. */
async function runAction(inputs: Record<string, string>, cache = tempDir("ru-toolcache-")): Promise<Run> {
  const runner = tempDir("ru-runner-");
  const files = Object.fromEntries(["GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"].map((k) => [k, join(runner, k)]));
  for (const f of Object.values(files)) writeFileSync(f, "");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: runner,
    RUNNER_OS: "Linux",
    RUNNER_ARCH: process.arch === "arm64" ? "ARM64" : "X64",
    RUNNER_TEMP: runner,
    RUNNER_TOOL_CACHE: cache,
    ...files,
    RU_API_URL: server.url,
    RU_API_KEY: KEY,
    RU_POLL_INTERVAL: FAST,
    RU_URL: `http://127.0.0.1:${mirror.port}/good/${NAME}`,
    RU_CHECKSUM: sum,
    RU_INPUT: image,
    RU_IMAGE: "img:1",
    ...inputs,
  };
  const proc = Bun.spawn(["bash", join(ROOT, "action", "run.sh")], { env, cwd: runner, stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const outputs = Object.fromEntries(
    readFileSync(files.GITHUB_OUTPUT as string, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  const read = (k: string) => readFileSync(files[k] as string, "utf8");
  // The key may stand in one place only: the command that tells the runner to mask it.
  const shown = [stdout, stderr, read("GITHUB_OUTPUT"), read("GITHUB_ENV"), read("GITHUB_PATH"), read("GITHUB_STEP_SUMMARY")].join("\n");
  const leaks = shown.split("\n").filter((l) => l.includes(inputs.RU_API_KEY ?? KEY) && l !== `::add-mask::${inputs.RU_API_KEY ?? KEY}`);
  expect(leaks).toEqual([]);
  return { code, stdout, stderr, outputs, summary: read("GITHUB_STEP_SUMMARY"), path: read("GITHUB_PATH"), cwd: runner };
}

const builds = async () => (await server.state()).requests.filter((q) => q.path === "/build").length;

// GitHub's runners have jq; CI installs it; elsewhere these rows are skipped rather than failed.
const hasJq = Bun.which("jq") !== null;
if (!hasJq && process.env.CI === "true") throw new Error("CI needs jq for the action's tests");

describe.skipIf(!hasJq)("the GitHub Action", () => {
  test("uploads, sets every output, adds the binary to PATH and writes a job summary", async () => {
    await server.reset();
    const r = await runAction({ RU_TAGS: "latest\nstable" });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const [up] = (await server.state()).uploads;
    expect(Object.keys(r.outputs).sort()).toEqual(["build-id", "bytes-sent", "image", "sha256", "skipped"]);
    expect([r.outputs.image, r.outputs["build-id"], r.outputs.skipped]).toEqual(["img:1", up?.id as string, "false"]);
    expect(Number(r.outputs["bytes-sent"])).toBe(up?.gzipBytes as number);
    expect(r.outputs.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(up?.fields.tags_0).toEqual(["latest"]);
    expect(up?.fields.tags_1).toEqual(["stable"]);
    expect(r.summary).toContain(`| img:1 | `);
    expect(r.summary).toContain(`| ${up?.id} |`);
    expect(r.path.trim()).toContain("/runtime-upload/");
    expect(existsSync(join(r.path.trim(), "runtime-upload"))).toBe(true);
    expect(r.stdout).toContain(`::add-mask::${KEY}`);
  }, 60_000);

  test("a failed build is an error annotation with the message and hint, and the exit code", async () => {
    await server.reset();
    await server.configure({ statuses: ["FAILURE:disk full"] });
    const r = await runAction({});
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^::error title=runtime-upload \(BUILD_FAILED\)::disk full \(hint: build ID: [0-9a-f-]+\)$/m);
    expect(r.outputs.skipped).toBe("false");
  }, 60_000);

  test("skip-existing: nothing uploaded, skipped=true", async () => {
    await server.reset();
    await server.configure({ existing: ["img:1"] });
    const r = await runAction({ RU_SKIP_EXISTING: "true" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.outputs.skipped).toBe("true");
    expect(await builds()).toBe(0);
  }, 60_000);

  test("a tampered archive is refused and nothing runs", async () => {
    await server.reset();
    const cache = tempDir("ru-toolcache-");
    const r = await runAction({ RU_URL: `http://127.0.0.1:${mirror.port}/bad/${NAME}` }, cache);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("checksum mismatch");
    expect(r.stdout).toContain("::error title=runtime-upload::could not install runtime-upload");
    expect((await server.state()).requests).toEqual([]);
    expect(readdirSync(cache).flatMap((v) => readdirSync(join(cache, v)))).not.toContain("runtime-upload");
  }, 60_000);

  test("a second run with the same tool cache downloads nothing", async () => {
    await server.reset();
    const cache = tempDir("ru-toolcache-");
    const before = downloads.length;
    const first = await runAction({}, cache);
    const second = await runAction({}, cache);
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(downloads.length - before).toBe(1);
    expect(second.stderr).toContain("from the tool cache");
  }, 60_000);

  // biome-ignore lint/suspicious/noTemplateCurlyInString: GitHub's expression syntax, meant literally
  test("inputs carrying shell metacharacters and ${{ }} text are inert", async () => {
    await server.reset();
    const canary = join(tempDir("ru-canary-"), "pwned");
    const evil = `img:1$(touch ${canary})`;
    const tags = `a;touch\${IFS}${canary} \`touch ${canary}\` \${{ github.token }}`;
    const r = await runAction({ RU_IMAGE: evil, RU_TAGS: tags });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(canary)).toBe(false);
    const fields = (await server.state()).uploads[0]?.fields ?? {};
    expect(fields.target_image).toEqual([evil]);
    expect(
      Object.keys(fields)
        .filter((k) => k.startsWith("tags_"))
        .map((k) => fields[k]?.[0]),
    ).toEqual(tags.split(/\s+/));
  }, 60_000);

  test("without url, a release the action has no pinned checksum for is refused before any download", async () => {
    const before = downloads.length;
    const r = await runAction({ RU_URL: "", RU_CHECKSUM: "" });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/::error title=runtime-upload::this action has no pinned checksum for runtime-upload-[\w-]+\.tar\.gz in v/);
    expect(downloads.length).toBe(before);
  });
});

describe("the action's pinned checksums", () => {
  test("the release build writes them from the release's own SHA256SUMS", async () => {
    const dir = tempDir("ru-sums-");
    const sums = `${"a".repeat(64)}  runtime-upload-linux-x64.tar.gz\n${"b".repeat(64)}  runtime-upload-darwin-arm64.tar.gz\n`;
    writeFileSync(join(dir, "SHA256SUMS"), sums);
    await writeActionSums(join(dir, "SHA256SUMS"), "v9.9.9", join(dir, "checksums.txt"));
    const text = readFileSync(join(dir, "checksums.txt"), "utf8");
    expect(text.split("\n").filter((l) => !l.startsWith("#"))).toEqual(["version v9.9.9", ...sums.split("\n")]);
  });

  test("action/checksums.txt names this package's version and only archives the release builds", () => {
    const text = readFileSync(join(ROOT, "action", "checksums.txt"), "utf8");
    expect(text).toContain(`\nversion v${pkg.version}\n`);
    const names = text
      .split("\n")
      .filter((l) => /^[0-9a-f]{64} {2}/.test(l))
      .map((l) => l.slice(66));
    const archives = TARGETS.map((t) => `runtime-upload-${t.platform}.tar.gz`);
    for (const n of names) expect(archives).toContain(n);
    // After `bun run build.ts` the pinned sums must be exactly the release's.
    const release = join(ROOT, "dist", "release", "SHA256SUMS");
    if (existsSync(release)) expect(text.endsWith(readFileSync(release, "utf8"))).toBe(true);
  });
});
