/**
 * The GitHub Action's script (action/run.sh) under a simulated runner: temp GITHUB_OUTPUT,
 * GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY, RUNNER_TEMP and RUNNER_TOOL_CACHE, the real
 * release archive on a loopback mirror, and the test Runtime-API. After every run the key
 * is in no line of anything the runner would show, but the one ::add-mask:: command.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { archive, TARGETS, writeSums } from "../build.ts";
import pkg from "../package.json" with { type: "json" };
import { checkVersion, pinnedProblems, pinnedSums } from "../scripts/release.ts";
import { BIN, hasTool, KEY, ROOT, sha256File, startServerProcess, type TestServer, tampered, tarOf, tempDir } from "./helpers.ts";

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
const hasJq = hasTool("jq");

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
    expect(r.path.trim()).toContain("/runtime-upload-bin.");
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
    expect(existsSync(canary)).toBe(false);
    // They reach the binary as words, which refuses them as tags: nothing is built.
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("is not a Docker tag");
    expect(await builds()).toBe(0);
    const plain = await runAction({ RU_IMAGE: evil, RU_TAGS: "latest" });
    expect(plain.code, plain.stderr).toBe(0);
    expect(existsSync(canary)).toBe(false);
    expect((await server.state()).uploads[0]?.fields).toEqual({ target_image: [evil], tags_0: ["latest"] });
  }, 60_000);

  test.each([
    ["a tag that is an option", "latest --dry-run", '"--dry-run" is not a Docker tag'],
    ["tags that would name another registry", "--registry-prefix=attacker.example/x --insecure", "is not a Docker tag"],
  ])(
    "%s is refused by the binary, never read as an option",
    async (_what, tags, message) => {
      await server.reset();
      const r = await runAction({ RU_TAGS: tags });
      expect(r.code).toBe(2);
      expect(r.stdout).toContain("::error title=runtime-upload (USAGE)::");
      expect(r.stdout).toContain(message);
      expect(await builds()).toBe(0);
    },
    60_000,
  );

  test("a binary planted in the tool cache beside a .sha256 of the public archive is never run", async () => {
    await server.reset();
    const cache = tempDir("ru-toolcache-");
    const canary = join(tempDir("ru-canary-"), "ran");
    const planted = join(cache, "runtime-upload", `v${pkg.version}`, PLATFORM);
    mkdirSync(planted, { recursive: true });
    writeFileSync(join(planted, "runtime-upload"), `#!/bin/sh\ntouch ${canary}\necho '{"ok":true,"outcome":"built","image":"img:1"}'\n`);
    chmodSync(join(planted, "runtime-upload"), 0o755);
    writeFileSync(join(planted, ".sha256"), sum);
    const r = await runAction({}, cache);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(canary)).toBe(false);
    expect(await builds()).toBe(1);
  }, 60_000);

  test("a cached archive that no longer matches its checksum is fetched again, with a warning, and the good one runs", async () => {
    await server.reset();
    const cache = tempDir("ru-toolcache-");
    expect((await runAction({}, cache)).code).toBe(0);
    const cached = join(cache, "runtime-upload", `v${pkg.version}`, PLATFORM, NAME);
    writeFileSync(cached, tampered(good));
    const before = downloads.length;
    const r = await runAction({}, cache);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      `::warning title=runtime-upload::the tool cache's ${NAME} does not match its checksum: downloading it again`,
    );
    expect(downloads.length - before).toBe(1);
    expect(await sha256File(cached)).toBe(sum);
  }, 60_000);

  test("a version input that climbs out of the tool cache is refused, and nothing outside it is touched", async () => {
    const cache = tempDir("ru-toolcache-");
    const victim = join(dirname(cache), `victim-${process.pid}`, PLATFORM);
    mkdirSync(victim, { recursive: true });
    writeFileSync(join(victim, "keep"), "mine\n");
    const r = await runAction({ RU_VERSION: `../../victim-${process.pid}` }, cache);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("::error title=runtime-upload::the version input is not a release version like v1.2.3");
    expect(readFileSync(join(victim, "keep"), "utf8")).toBe("mine\n");
  });

  test("a version input with a line break adds no line to GITHUB_PATH", async () => {
    const r = await runAction({ RU_VERSION: `v${pkg.version}\n/tmp/evil-bin` });
    expect(r.code).toBe(1);
    expect(r.path).toBe("");
  });

  test("the job summary shows the server's image as text: no HTML, no Markdown", async () => {
    await server.reset();
    await server.configure({ image: "<img src=x onerror=alert(1)>|[a](b)" });
    const r = await runAction({});
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary).toContain("&#60;img&#32;src&#61;x&#32;onerror&#61;alert&#40;1&#41;&#62;&#124;&#91;a&#93;&#40;b&#41;");
    expect(r.summary).not.toMatch(/<img|\[a\]\(b\)/);
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
  const SUMS = `${TARGETS.map((t, i) => `${String(i).repeat(64)}  runtime-upload-${t.platform}.tar.gz`).join("\n")}\n`;

  test("the release workflow's pin writes the release's own SHA256SUMS under its version", () => {
    const text = pinnedSums(SUMS, "v9.9.9");
    expect(text.split("\n").filter((l) => !l.startsWith("#"))).toEqual(["version v9.9.9", ...SUMS.split("\n")]);
    expect(pinnedProblems(text, SUMS, "v9.9.9")).toEqual([]);
  });

  test.each([
    ["another version", (t: string) => t.replace("version v9.9.9", "version v9.9.8"), "the tag pins version v9.9.8, not version v9.9.9"],
    ["one sum changed", (t: string) => t.replace("0".repeat(64), "f".repeat(64)), "the tag does not pin: 0000"],
    ["one archive missing", (t: string) => t.split("\n").slice(0, -2).join("\n"), "the tag does not pin:"],
    ["no sums at all (the file as the repository holds it)", () => readFileSync(join(ROOT, "action", "checksums.txt"), "utf8"), "not pin"],
  ])("a tag whose pins differ from the release is caught: %s", (_what, change, problem) => {
    const problems = pinnedProblems(change(pinnedSums(SUMS, "v9.9.9")), SUMS, "v9.9.9");
    expect(problems.join("\n")).toContain(problem);
  });

  test.each([
    ["a line that is not a sum", `${SUMS}garbage\n`],
    ["an archive that is not a release target", `${SUMS}${"e".repeat(64)}  evil.tar.gz\n`],
    ["a target missing", SUMS.split("\n").slice(1).join("\n")],
  ])("SHA256SUMS with %s is refused before anything is pinned", (_what, sums) => {
    expect(() => pinnedSums(sums, "v9.9.9")).toThrow();
  });

  test.each([
    ["v0.1.0", undefined],
    ["0.1.0", undefined],
    ["v0.2.0", "package.json says 0.1.0"],
    ["../../x", "is not a release version"],
    ["v0.1.0\nx", "is not a release version"],
  ])("the release tag %p against package.json 0.1.0", (version, problem) => {
    if (problem) expect(() => checkVersion(version, "0.1.0")).toThrow(problem);
    else expect(() => checkVersion(version, "0.1.0")).not.toThrow();
  });

  test("action/checksums.txt names this package's version", () => {
    expect(readFileSync(join(ROOT, "action", "checksums.txt"), "utf8")).toContain(`\nversion v${pkg.version}\n`);
  });

  test("a local release build writes its archives and SHA256SUMS and leaves tracked files alone", () => {
    const host = `${process.platform === "darwin" ? "darwin" : "linux"}-${process.arch}`;
    const tracked = () => Bun.spawnSync(["git", "status", "--porcelain"], { cwd: ROOT }).stdout.toString();
    const before = tracked();
    const out = tempDir("ru-release-");
    const r = Bun.spawnSync([process.execPath, "run", "build.ts", "--only", host, "--out", out], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(r.exitCode, r.stderr.toString()).toBe(0);
    expect(readFileSync(join(out, "SHA256SUMS"), "utf8")).toMatch(new RegExp(`^[0-9a-f]{64}  runtime-upload-${host}\\.tar\\.gz\\n$`));
    expect(tracked()).toBe(before);
  }, 120_000);
});
