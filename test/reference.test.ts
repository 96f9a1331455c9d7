/** docs/reference.md is what scripts/reference.ts writes from the definitions: a changed option, default or field without it fails here. */
import { expect, test } from "bun:test";
import { join } from "node:path";

test("docs/reference.md is up to date with the command definitions (else: bun scripts/reference.ts)", () => {
  const r = Bun.spawnSync(["bun", join(import.meta.dir, "..", "scripts", "reference.ts"), "--check"], { stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
});
