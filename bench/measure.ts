/** Runs a command and measures its wall time and the peak RSS of its whole process tree. */
import { readdirSync, readFileSync } from "node:fs";

export interface Measured {
  seconds: number;
  /** User + system CPU of the command and every descendant it waited for. */
  cpuSeconds: number;
  /** Peak of the summed VmRSS of the command and all its descendants (a pipeline is all its parts). */
  peakRss: number;
  /**
   * Peak of the summed RssAnon: the memory the programs allocate, without the pages of
   * their executables. The ~110 MB binary's mapped pages vary by ±2 MiB between runs and
   * builds of the same code, which is noise to a comparison of two pipelines.
   */
  peakAnon: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Direct children of a process, from every thread's children list (Linux 3.5+). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (text) out.push(...text.split(" ").map(Number));
    }
  } catch {
    // the process ended while we looked
  }
  return out;
}

function treeRss(root: number): { rss: number; anon: number } {
  const total = { rss: 0, anon: 0 };
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop() as number;
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      total.rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      total.anon += Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      // gone
    }
    stack.push(...childrenOf(pid));
  }
  return total;
}

/** `onSample` is called with the command's pid at each of the 20 ms samples, for what else a bench reads of it. */
export async function measure(
  cmd: string[],
  env: Record<string, string | undefined> = process.env,
  onSample?: (pid: number) => void,
): Promise<Measured> {
  const started = performance.now();
  const proc = Bun.spawn(cmd, { env, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const out = new Response(proc.stdout).text();
  const err = new Response(proc.stderr).text();
  let peakRss = 0;
  let peakAnon = 0;
  // Often enough to catch the peak of a run that lasts under a second.
  const timer = setInterval(() => {
    const now = treeRss(proc.pid);
    peakRss = Math.max(peakRss, now.rss);
    peakAnon = Math.max(peakAnon, now.anon);
    onSample?.(proc.pid);
  }, 20);
  const code = await proc.exited;
  clearInterval(timer);
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = Number(proc.resourceUsage()?.cpuTime.total ?? 0) / 1e6;
  return { seconds, cpuSeconds, peakRss, peakAnon, code, stdout: await out, stderr: await err };
}
