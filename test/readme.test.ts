/** The README fits a few screens, and what it held before docs/ still lives in it or there, every link resolving. */
import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");
const pages = ["README.md", ...readdirSync(join(ROOT, "docs")).map((f) => `docs/${f}`)];

/** A page's headings, outside code blocks, without their #s. */
function headings(text: string): string[] {
  let fenced = false;
  return text.split("\n").flatMap((line) => {
    if (line.startsWith("```")) fenced = !fenced;
    return !fenced && /^#{1,6} /.test(line) ? [line.replace(/^#+ /, "").trim()] : [];
  });
}

test("README.md is at most 200 lines", () => {
  expect(read("README.md").split("\n").length).toBeLessThanOrEqual(200);
});

test("every heading of the README before docs/ is a heading of README.md or of a page in docs/", () => {
  const before = read("test/readme-headings.txt")
    .split("\n")
    .filter((l) => l && !l.startsWith("#"));
  const now = new Set(pages.flatMap((page) => headings(read(page))));
  expect(before.filter((h) => !now.has(h))).toEqual([]);
});

test("every relative link of README.md and docs/ names a file that exists", () => {
  const broken = pages.flatMap((page) =>
    [...read(page).matchAll(/\]\(([^)#:\s]+)(#[^)]*)?\)/g)]
      .map((m) => m[1] as string)
      .filter((target) => !existsSync(join(ROOT, dirname(page), target)))
      .map((target) => `${page} → ${target}`),
  );
  expect(broken).toEqual([]);
});
