/**
 * The release's pinned sums: the GitHub Action runs only archives whose sha256 its own tag
 * pins in action/checksums.txt. Only the release workflow (.github/workflows/release.yml)
 * writes that file, from the SHA256SUMS it publishes, and checks the published release
 * against the tag afterwards; a local build leaves tracked files alone.
 *
 *   bun scripts/release.ts version VERSION                     VERSION is a release of this package
 *   bun scripts/release.ts pin --sums SHA256SUMS --version V   write action/checksums.txt
 *   bun scripts/release.ts check --pinned FILE --sums SHA256SUMS --version V
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TARGETS } from "../build.ts";
import pkg from "../package.json" with { type: "json" };

export const PINNED = join(import.meta.dir, "..", "action", "checksums.txt");
/** The same rule as the action's version input (action/run.sh). */
const VERSION = /^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$/;
const ARCHIVES = new Set(TARGETS.map((t) => `runtime-upload-${t.platform}.tar.gz`));

/** SHA256SUMS's lines, checked: one well-formed line per release archive, nothing else. */
function sumLines(sums: string): string[] {
  const lines = sums.split("\n").filter(Boolean);
  const names = lines.map((l) => {
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(l);
    if (!m || !ARCHIVES.has(m[2] as string)) throw new Error(`SHA256SUMS line is not a release archive's sum: ${l}`);
    return m[2] as string;
  });
  const missing = [...ARCHIVES].filter((a) => !names.includes(a));
  if (missing.length > 0 || names.length !== ARCHIVES.size) throw new Error(`SHA256SUMS lacks or repeats archives: ${missing.join(", ")}`);
  return lines;
}

/** The tag's name is the package's version, as a release version. */
export function checkVersion(version: string, packageVersion = pkg.version): void {
  if (!VERSION.test(version)) throw new Error(`${JSON.stringify(version)} is not a release version like v1.2.3`);
  if (version.replace(/^v/, "") !== packageVersion) throw new Error(`the tag says ${version}, package.json says ${packageVersion}`);
}

/** action/checksums.txt for this release: its version and SHA256SUMS as published. */
export function pinnedSums(sums: string, version: string): string {
  const lines = sumLines(sums);
  return (
    "# The sha256 of each archive of this release, pinned by the GitHub Action (action/run.sh).\n" +
    `# Written by the release workflow from the release's SHA256SUMS: do not edit.\nversion ${version}\n${lines.join("\n")}\n`
  );
}

/** What differs between a tag's pinned sums and the release's SHA256SUMS; empty when they agree. */
export function pinnedProblems(pinned: string, sums: string, version: string): string[] {
  const problems: string[] = [];
  const body = pinned.split("\n").filter((l) => l && !l.startsWith("#"));
  if (body[0] !== `version ${version}`) problems.push(`the tag pins ${body[0] ?? "no version"}, not version ${version}`);
  const want = new Set(sumLines(sums));
  const have = new Set(body.slice(1));
  for (const l of want) if (!have.has(l)) problems.push(`the tag does not pin: ${l}`);
  for (const l of have) if (!want.has(l)) problems.push(`the tag pins what the release does not publish: ${l}`);
  return problems;
}

function flag(args: string[], name: string): string {
  const i = args.indexOf(name);
  const v = i >= 0 ? args[i + 1] : undefined;
  if (!v) throw new Error(`${name} is required`);
  return v;
}

if (import.meta.main) {
  const [verb, ...args] = process.argv.slice(2);
  try {
    if (verb === "version") checkVersion(args[0] ?? "");
    else if (verb === "pin") {
      const version = flag(args, "--version");
      checkVersion(version);
      writeFileSync(PINNED, pinnedSums(readFileSync(flag(args, "--sums"), "utf8"), version));
      console.log(`wrote ${PINNED} for ${version}`);
    } else if (verb === "check") {
      const problems = pinnedProblems(
        readFileSync(flag(args, "--pinned"), "utf8"),
        readFileSync(flag(args, "--sums"), "utf8"),
        flag(args, "--version"),
      );
      if (problems.length > 0) throw new Error(problems.join("\n"));
      console.log("the tag's pinned sums are the release's");
    } else throw new Error("usage: release.ts version V | pin --sums F --version V | check --pinned F --sums F --version V");
  } catch (e) {
    console.error(`release: ${(e as Error).message}`);
    process.exit(1);
  }
}
