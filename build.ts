/**
 * Builds release binaries with `bun build --compile`, from one table of targets.
 *   bun run build.ts            every target: dist/release/runtime-upload-<platform>.tar.gz + SHA256SUMS
 *   bun run build.ts --only linux-x64 --out DIR   some targets, archives and SHA256SUMS in DIR
 *   bun run build.ts --single   the host target only, as dist/runtime-upload
 *
 * Targets other than the host make Bun fetch that platform's runtime from the npm registry
 * (@oven/bun-<platform>) into ~/.bun/install/cache. Offline, prime that cache once, or
 * point Bun at a runtime you carried in: BUN_COMPILE_EXECUTABLE_PATH_<PLATFORM>=/path/to/bun.
 * Never `strip` the results: that drops the embedded program.
 */
import { mkdirSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { $ } from "bun";
import pkg from "./package.json" with { type: "json" };

const ENTRY = "src/cli.ts";
// Bundled as entry points of their own: a compiled binary can only start Workers it contains.
const WORKERS = ["src/gzip/worker.ts", "src/upload/sha256-worker.ts"];
const RELEASE_DIR = "dist/release";

/** Every release target: the name users and install.sh see, and Bun's compile target. */
export const TARGETS = [
  { platform: "linux-x64", bun: "bun-linux-x64", exe: "runtime-upload" },
  { platform: "linux-arm64", bun: "bun-linux-arm64", exe: "runtime-upload" },
  { platform: "linux-x64-musl", bun: "bun-linux-x64-musl", exe: "runtime-upload" },
  { platform: "linux-arm64-musl", bun: "bun-linux-arm64-musl", exe: "runtime-upload" },
  { platform: "darwin-x64", bun: "bun-darwin-x64", exe: "runtime-upload" },
  { platform: "darwin-arm64", bun: "bun-darwin-arm64", exe: "runtime-upload" },
  { platform: "windows-x64", bun: "bun-windows-x64", exe: "runtime-upload.exe" },
] as const;

export type Target = (typeof TARGETS)[number];

async function gitCommit(): Promise<string> {
  const r = await $`git rev-parse --short=12 HEAD`.quiet().nothrow();
  return r.exitCode === 0 ? r.stdout.toString().trim() : "unknown";
}

export async function compile(target: Target["bun"] | undefined, outfile: string): Promise<void> {
  const override = target && process.env[`BUN_COMPILE_EXECUTABLE_PATH_${target.replace(/^bun-/, "").replaceAll("-", "_").toUpperCase()}`];
  const result = await Bun.build({
    entrypoints: [ENTRY, ...WORKERS],
    compile: {
      ...(target ? { target } : {}),
      ...(override ? { executablePath: override } : {}),
      outfile,
      autoloadDotenv: false,
      autoloadBunfig: false,
    },
    minify: true,
    // The default "browser" target pulls in polyfills that cost ~25 MB of RSS at run time.
    target: "bun",
    define: {
      RUNTIME_UPLOAD_VERSION: JSON.stringify(pkg.version),
      RUNTIME_UPLOAD_COMMIT: JSON.stringify(await gitCommit()),
    },
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    throw new Error(`build failed for ${target ?? "host"}`);
  }
}

/** Packs one binary as runtime-upload-<platform>.tar.gz in `dir`; returns the archive's name. */
export async function archive(binary: string, platform: string, dir: string): Promise<string> {
  const name = `runtime-upload-${platform}.tar.gz`;
  mkdirSync(dir, { recursive: true });
  await $`tar -C ${dirname(binary)} -czf ${join(dir, name)} ${basename(binary)}`;
  return name;
}

/** One SHA256SUMS for every archive, in sha256sum's own format. */
export async function writeSums(dir: string, names: string[]): Promise<void> {
  const lines: string[] = [];
  for (const name of [...names].sort()) {
    const h = new Bun.CryptoHasher("sha256");
    for await (const chunk of Bun.file(join(dir, name)).stream()) h.update(chunk);
    lines.push(`${h.digest("hex")}  ${name}`);
  }
  await Bun.write(join(dir, "SHA256SUMS"), `${lines.join("\n")}\n`);
}

/** `--name value` from the command line, or undefined. */
function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.main) {
  if (process.argv.includes("--single")) {
    await compile(undefined, "dist/runtime-upload");
    console.log("built dist/runtime-upload");
  } else {
    // --only linux-x64,darwin-arm64 builds some targets; --out DIR puts the archives elsewhere.
    const only = flag("--only")?.split(",");
    const dir = flag("--out") ?? RELEASE_DIR;
    const targets = TARGETS.filter((t) => !only || only.includes(t.platform));
    if (targets.length === 0) throw new Error(`--only ${only}: no such target (${TARGETS.map((t) => t.platform).join(", ")})`);
    rmSync(dir, { recursive: true, force: true });
    const names: string[] = [];
    for (const t of targets) {
      const out = join(dir, "targets", t.platform, t.exe);
      await compile(t.bun, out);
      names.push(await archive(out, t.platform, dir));
      console.log(`built ${out} → ${dir}/${names.at(-1)}`);
    }
    await writeSums(dir, names);
    // Tracked files stay as they are: only the release workflow pins these sums (scripts/release.ts).
    console.log(`wrote ${dir}/SHA256SUMS`);
  }
}
