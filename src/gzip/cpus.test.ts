import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { tempDir } from "../../test/helpers.ts";
import { cgroupCpuLimit, usableCpus } from "./cpus.ts";

/** A cgroup folder as the kernel shows it to a container: only the files a row names. */
function cgroup(files: Record<string, string>): string {
  const root = tempDir("ru-cgroup-");
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), `${text}\n`);
  }
  return root;
}

const v1 = (quota: string, period = "100000") => ({ "cpu/cpu.cfs_quota_us": quota, "cpu/cpu.cfs_period_us": period });

test.each([
  ["v2 without a limit", undefined, { "cpu.max": "max 100000" }],
  ["v2 with 2 CPUs", 2, { "cpu.max": "200000 100000" }],
  ["v2 with 1.5 CPUs, rounded up", 2, { "cpu.max": "150000 100000" }],
  ["v2 with half a CPU", 1, { "cpu.max": "50000 100000" }],
  ["v2 with an unreadable line", undefined, { "cpu.max": "lots" }],
  ["v1 without a limit", undefined, v1("-1")],
  ["v1 with 3 CPUs", 3, v1("300000")],
  ["v1 with a quota but no period", undefined, { "cpu/cpu.cfs_quota_us": "300000" }],
  ["no cgroup files at all", undefined, {}],
] as const)("the CPU limit of %s is %p", (_name, want, files) => {
  expect(cgroupCpuLimit(cgroup(files))).toBe(want);
});

test("a cgroup quota below the CPU count lowers the usable CPUs; one above it does not", () => {
  expect(usableCpus(cgroup({ "cpu.max": "100000 100000" }))).toBe(1);
  expect(usableCpus(cgroup({ "cpu.max": "6400000 100000" }))).toBe(availableParallelism());
  expect(usableCpus(cgroup({}))).toBe(availableParallelism());
});
