/** install.sh against a local release mirror on 127.0.0.1, with the real compiled binary. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { archive, writeSums } from "../build.ts";
import pkg from "../package.json" with { type: "json" };
import { BIN, tampered as flipped, hasTool, ROOT, tempDir, until } from "./helpers.ts";

const INSTALLER = join(ROOT, "install.sh");
const PLATFORM = `${process.platform}-${process.arch}`;
const NAME = `runtime-upload-${PLATFORM}.tar.gz`;

let release: string;
let tampered: string;
let mirror: ReturnType<typeof Bun.serve>;
/** Another origin (127.0.0.2): a redirect may point here, and nothing may ever arrive. */
let elsewhere: ReturnType<typeof Bun.serve>;
const elsewhereSaw: string[] = [];
const requested: string[] = [];

beforeAll(async () => {
  release = tempDir("ru-release-");
  await writeSums(release, [await archive(BIN, PLATFORM, release)]);
  // Same SHA256SUMS, one byte of the archive flipped: what a corrupted or hostile mirror serves.
  tampered = tempDir("ru-tampered-");
  copyFileSync(join(release, "SHA256SUMS"), join(tampered, "SHA256SUMS"));
  writeFileSync(join(tampered, NAME), flipped(join(release, NAME)));
  mirror = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      requested.push(path);
      // A hostile mirror: every file redirects to plain http on another host.
      if (path.startsWith("/redirect/")) {
        return new Response("", { status: 302, headers: { location: `http://127.0.0.2:${elsewhere.port}${path.slice(9)}` } });
      }
      // A download that never ends: only an interrupt stops it.
      if (path.startsWith("/slow/")) {
        const trickle = async (c: ReadableStreamDefaultController<Uint8Array>) => {
          await Bun.sleep(200);
          c.enqueue(new Uint8Array(1));
        };
        return new Response(new ReadableStream({ pull: trickle }));
      }
      const m = /^\/(good|bad)\/(?:latest\/download|download\/v[\d.]+)\/([\w.-]+)$/.exec(path);
      if (!m) return new Response("not found", { status: 404 });
      const file = join(m[1] === "good" ? release : tampered, m[2] as string);
      return existsSync(file) ? new Response(Bun.file(file)) : new Response("not found", { status: 404 });
    },
  });
  elsewhere = Bun.serve({
    hostname: "127.0.0.2",
    port: 0,
    fetch(req) {
      elsewhereSaw.push(req.url);
      return new Response("stolen");
    },
  });
}, 120_000);
afterAll(() => {
  mirror.stop(true);
  elsewhere.stop(true);
});

async function install(
  args: string[],
  env: Record<string, string | undefined> = {},
  during?: (proc: ReturnType<typeof Bun.spawn>) => Promise<void>,
) {
  const home = tempDir("ru-home-");
  const all: Record<string, string | undefined> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, ...env };
  const proc = Bun.spawn(["sh", INSTALLER, ...args], {
    env: Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined)),
    stdout: "pipe",
    stderr: "pipe",
  });
  const text = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await during?.(proc);
  const [code, [stdout, stderr]] = await Promise.all([proc.exited, text]);
  return { code, stdout, stderr, home };
}

/** A PATH holding only these tools (and what the installer always needs). */
function pathWith(tools: string[]): string {
  const bin = tempDir("ru-path-");
  for (const tool of [
    ...tools,
    "sh",
    "uname",
    "tar",
    "awk",
    "mktemp",
    "rm",
    "grep",
    "sed",
    "tr",
    "tail",
    "cp",
    "mv",
    "mkdir",
    "chmod",
    "basename",
    "dirname",
    "cut",
    "sha256sum",
    "gzip",
    "cat",
    "ldd",
  ]) {
    const found = Bun.which(tool);
    if (found) symlinkSync(found, join(bin, tool));
  }
  return bin;
}

/** A release holding an archive built by hand, with its own SHA256SUMS: what a hostile release could ship. */
async function releaseOf(setup: (dir: string) => void): Promise<string> {
  const stage = tempDir("ru-stage-");
  setup(stage);
  const dir = tempDir("ru-evil-");
  Bun.spawnSync(["tar", "-C", stage, "-czf", join(dir, NAME), "runtime-upload"]);
  await writeSums(dir, [NAME]);
  return join(dir, NAME);
}

const base = (which: "good" | "bad") => `http://127.0.0.1:${mirror.port}/${which}`;

function versionOf(bin: string): string {
  return Bun.spawnSync([bin, "--version"]).stdout.toString().trim();
}

describe("install.sh", () => {
  test("installs the latest release, verified, into --install-dir, with a PATH hint", async () => {
    const dir = join(tempDir(), "bin");
    const r = await install(["--base-url", base("good"), "--install-dir", dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`verified ${NAME}`);
    expect(r.stderr).toContain(`export PATH="${dir}:$PATH"`);
    expect(versionOf(join(dir, "runtime-upload"))).toStartWith(pkg.version);
    expect(requested).toContain(`/good/latest/download/${NAME}`);
  });

  test("--version fetches that release; RUNTIME_UPLOAD_INSTALL_DIR is honoured", async () => {
    const dir = join(tempDir(), "opt");
    const r = await install(["--base-url", base("good"), "--version", "v9.8.7"], { RUNTIME_UPLOAD_INSTALL_DIR: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(requested).toContain(`/good/download/v9.8.7/${NAME}`);
    expect(existsSync(join(dir, "runtime-upload"))).toBe(true);
  });

  test("defaults to ~/.local/bin without sudo", async () => {
    const r = await install(["--base-url", base("good")]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(r.home, ".local/bin/runtime-upload"))).toBe(true);
  });

  test("a tampered archive is refused and nothing is installed", async () => {
    const dir = join(tempDir(), "bin");
    const r = await install(["--base-url", base("bad"), "--install-dir", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`checksum mismatch for ${NAME}`);
    expect(existsSync(join(dir, "runtime-upload"))).toBe(false);
  });

  test("a missing release is a one-line download error", async () => {
    const r = await install(["--base-url", base("good"), "--version", "v0.0.0-nope", "--install-dir", tempDir()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: download failed: http:\/\/127\.0\.0\.1:\d+\/good\/download\/v0\.0\.0-nope\/SHA256SUMS/);
  });

  test("plain http to a host that is not local is refused before any download", async () => {
    const r = await install(["--base-url", "http://mirror.example.invalid/releases"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("refusing to download from http://mirror.example.invalid/releases");
  });

  test("--from-file installs offline from an archive with SHA256SUMS beside it", async () => {
    const dir = join(tempDir(), "bin");
    const args = ["--from-file", join(release, NAME), "--install-dir", dir, "--base-url", "http://127.0.0.1:1"];
    // With a network namespace of its own there is no network at all, not even loopback.
    const offline = Bun.spawnSync(["unshare", "-n", "true"]).exitCode === 0;
    const r = offline
      ? await (async () => {
          const p = Bun.spawn(["unshare", "-n", "sh", INSTALLER, ...args], {
            env: { PATH: process.env.PATH ?? "", HOME: tempDir() },
            stderr: "pipe",
          });
          return { code: await p.exited, stderr: await new Response(p.stderr).text() };
        })()
      : await install(args);
    expect(r.code, r.stderr).toBe(0);
    expect(versionOf(join(dir, "runtime-upload"))).toStartWith(pkg.version);
  });

  test("--from-file refuses a tampered archive", async () => {
    const r = await install(["--from-file", join(tampered, NAME), "--install-dir", tempDir()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("checksum mismatch");
  });

  test.each([
    ["SunOS", "sun4v", "unsupported platform: SunOS sun4v"],
    ["Linux", "riscv64", "unsupported platform: linux riscv64"],
    ["MINGW64_NT-10.0", "x86_64", "on Windows, download runtime-upload-windows-x64.tar.gz"],
  ])("uname %s %s gets its message", async (os, arch, message) => {
    const fake = tempDir("ru-uname-");
    writeFileSync(join(fake, "uname"), `#!/bin/sh\ncase "$1" in -s) echo ${os} ;; -m) echo ${arch} ;; esac\n`, { mode: 0o755 });
    const r = await install(["--base-url", base("good")], { PATH: `${fake}:${process.env.PATH}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
  });

  test("without curl or wget it says what is missing", async () => {
    const bin = tempDir("ru-path-");
    for (const tool of ["sh", "uname", "tar", "awk", "mktemp", "rm", "grep", "sysctl", "ldd"]) {
      const found = Bun.which(tool);
      if (found) symlinkSync(found, join(bin, tool));
    }
    const r = await install(["--base-url", base("good")], { PATH: bin });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("curl or wget is required");
  });

  // CI installs both; elsewhere a missing one is skipped rather than failed.
  test.each(["curl", "wget"].filter((t) => hasTool(t)))(
    "with %s, a redirect to plain http on another host is refused and nothing reaches it",
    async (tool) => {
      const dir = join(tempDir(), "bin");
      const r = await install(["--base-url", base("good").replace("/good", "/redirect/good"), "--install-dir", dir], {
        PATH: pathWith([tool]),
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/download failed|refusing to follow a redirect/);
      expect(existsSync(join(dir, "runtime-upload"))).toBe(false);
      expect(elsewhereSaw).toEqual([]);
    },
  );

  test.each([
    ["a user part that hides another host", () => `http://localhost:${mirror.port}@127.0.0.2:${elsewhere.port}/good`],
    ["a port that is not a number", () => `http://localhost:80x/good`],
    ["a look-alike host", () => `http://localhost.example.invalid/good`],
  ])("a localhost mirror URL with %s is refused before any download", async (_what, url) => {
    const r = await install(["--base-url", url(), "--install-dir", tempDir()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("refusing to download from");
    expect(elsewhereSaw).toEqual([]);
  });

  test("with HOME unset and no --install-dir it says so instead of writing to /.local/bin", async () => {
    const r = await install(["--base-url", base("good")], { HOME: undefined });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no install dir: HOME is not set");
  });

  test.each([
    ["is a symlink", (d: string) => symlinkSync("/bin/sh", join(d, "runtime-upload")), "is not a regular file: refusing to install"],
    [
      "does not answer --version",
      (d: string) => writeFileSync(join(d, "runtime-upload"), "#!/bin/sh\nexit 3\n", { mode: 0o755 }),
      "does not run on this machine: refusing to install",
    ],
  ])("an archive whose runtime-upload %s is refused", async (_what, setup, message) => {
    const evil = await releaseOf(setup);
    const dir = join(tempDir(), "bin");
    const r = await install(["--from-file", evil, "--install-dir", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(existsSync(join(dir, "runtime-upload"))).toBe(false);
  });

  test("--edit-profile writes a line that runs nothing from the folder's name at login", async () => {
    const top = tempDir("ru-odd-");
    const dir = join(top, `it's $(touch ${join(top, "pwned")}) "here"`);
    const r = await install(["--from-file", join(release, NAME), "--install-dir", dir, "--edit-profile"]);
    expect(r.code, r.stderr).toBe(0);
    const login = Bun.spawnSync(["sh", "-c", '. "$HOME/.profile"; printf %s "$PATH"'], { env: { HOME: r.home, PATH: "/usr/bin:/bin" } });
    expect(login.stdout.toString()).toStartWith(`${dir}:`);
    expect(existsSync(join(top, "pwned"))).toBe(false);
  });

  test("Ctrl-C during a download ends it at once with 130 and leaves no temp folder", async () => {
    const tmp = tempDir("ru-inttmp-");
    const started = performance.now();
    const r = await install(
      ["--base-url", base("good").replace("/good", "/slow/good"), "--install-dir", tempDir()],
      { TMPDIR: tmp },
      async (proc) => {
        await until(() => requested.some((p) => p.startsWith("/slow/")), "the download to start");
        proc.kill("SIGINT");
      },
    );
    expect(r.code).toBe(130);
    expect((performance.now() - started) / 1000).toBeLessThan(10);
    expect(readdirSync(tmp)).toEqual([]);
  });

  test.skipIf(!hasTool("shellcheck"))("shellcheck finds nothing in install.sh", () => {
    const r = Bun.spawnSync(["shellcheck", INSTALLER]);
    expect(r.stdout.toString() + r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });
});

test("the release table names every platform install.sh can ask for", async () => {
  const { TARGETS } = await import("../build.ts");
  expect(TARGETS.map((t) => t.platform as string).sort()).toEqual(
    ["darwin-arm64", "darwin-x64", "linux-arm64", "linux-arm64-musl", "linux-x64", "linux-x64-musl", "windows-x64"].sort(),
  );
});
