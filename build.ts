/**
 * Builds release binaries with `bun build --compile`.
 *   bun run build.ts            every target in TARGETS
 *   bun run build.ts --single   the host target only, as dist/runtime-upload
 */
import { $ } from "bun";
import pkg from "./package.json" with { type: "json" };

const ENTRY = "src/cli.ts";
// Bundled as a second entry point: a compiled binary can only start Workers it contains.
const WORKER = "src/gzip-worker.ts";

async function gitCommit(): Promise<string> {
  const r = await $`git rev-parse --short=12 HEAD`.quiet().nothrow();
  return r.exitCode === 0 ? r.stdout.toString().trim() : "unknown";
}

export async function compile(target: Bun.Build.CompileTarget | undefined, outfile: string): Promise<void> {
  const result = await Bun.build({
    entrypoints: [ENTRY, WORKER],
    compile: {
      ...(target ? { target } : {}),
      outfile,
      autoloadDotenv: false,
      autoloadBunfig: false,
    },
    minify: true,
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

if (import.meta.main) {
  const single = process.argv.includes("--single");
  if (single) {
    await compile(undefined, "dist/runtime-upload");
    console.log("built dist/runtime-upload");
  }
}
