import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";

/**
 * CPUs this process may really use. The affinity count (availableParallelism) ignores a
 * cgroup CPU quota, so a CI pod limited to 2 CPUs on a 64-core node would otherwise start
 * 64 compressors that fight over 2 CPUs, each with its own memory.
 */
export function usableCpus(cgroupRoot = "/sys/fs/cgroup"): number {
  const cpus = Math.max(1, availableParallelism());
  const limit = cgroupCpuLimit(cgroupRoot);
  return limit === undefined ? cpus : Math.min(cpus, limit);
}

/** The CPU limit a cgroup (v2 `cpu.max`, or v1 CFS quota) sets, in whole CPUs, if any. */
export function cgroupCpuLimit(root: string): number | undefined {
  const v2 = readText(join(root, "cpu.max"));
  if (v2 !== undefined) {
    const [quota = "", period = ""] = v2.split(/\s+/);
    return quotaCpus(quota, period);
  }
  const quota = readText(join(root, "cpu", "cpu.cfs_quota_us"));
  const period = readText(join(root, "cpu", "cpu.cfs_period_us"));
  return quota === undefined || period === undefined ? undefined : quotaCpus(quota, period);
}

/** "max" (v2) and -1 (v1) mean no limit; 150000 per 100000 is 1.5 CPUs, which rounds up to 2. */
function quotaCpus(quota: string, period: string): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  if (!(q > 0) || !(p > 0)) return undefined;
  return Math.max(1, Math.ceil(q / p));
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

/**
 * The default --jobs: one compression Worker per usable CPU (each queues its next block,
 * so none idles and a spare one does not pay), at most 8: each costs ~10 MiB, and 8
 * outrun a 1 Gbit/s link, so more takes an explicit --jobs.
 */
const MAX_DEFAULT_JOBS = 8;

export function defaultJobs(): number {
  return Math.min(usableCpus(), MAX_DEFAULT_JOBS);
}
