/**
 * The CPU of each of the tool's threads in one run: where its seconds go (the main thread,
 * each Worker, the collector, fetch's HTTP thread), which the whole process's time
 * (bench/measure.ts) cannot say. Every thread's /proc/PID/task/TID/stat is read at each of
 * measure's 20 ms samples and its last reading kept, so a thread that ends early is still
 * counted (less the few ms after its last reading).
 *
 *   bun bench/cpu-threads.ts [--runs 2] -- ARGS...
 *
 * ARGS are the tool's own (`--dry-run --level 0 IMAGE`, or an upload with RUNTIME_API_URL
 * set). Each run prints its threads, most CPU first. Needs: npm run build; Linux. Timing
 * lives here, never in tests.
 */
import { readdirSync, readFileSync } from "node:fs";
import { option } from "../scripts/option.ts";
import { BIN } from "../test/helpers.ts";
import { measure } from "./measure.ts";

const argv = process.argv.slice(2);
const split = argv.indexOf("--");
if (split < 0) throw new Error("usage: bun bench/cpu-threads.ts [--runs N] -- ARGS...");
const args = argv.slice(split + 1);
const runs = Number(option("runs", argv.slice(0, split)) ?? 2);
const TICKS = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim());

interface Thread {
  name: string;
  user: number;
  system: number;
}

/** Each thread's name and CPU seconds so far; a thread gone meanwhile is left out. */
function threads(pid: number): Map<number, Thread> {
  const out = new Map<number, Thread>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      // The name is in parentheses and may hold spaces; the fields after it are fixed (proc(5)).
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(Number(tid), { name, user: Number(fields[11]) / TICKS, system: Number(fields[12]) / TICKS });
    } catch {
      // ended while we looked
    }
  }
  return out;
}

for (let run = 1; run <= runs; run++) {
  const seen = new Map<number, Thread>();
  const m = await measure([BIN, ...args], process.env, (pid) => {
    for (const [tid, t] of threads(pid)) seen.set(tid, t);
  });
  if (m.code !== 0) throw new Error(`run ${run} failed (${m.code}): ${m.stderr.slice(-500)}`);
  const rows = [...seen].sort(([, a], [, b]) => b.user + b.system - (a.user + a.system));
  const total = rows.reduce((n, [, t]) => n + t.user + t.system, 0);
  console.log(`\nrun ${run}: ${m.seconds.toFixed(2)} s, ${total.toFixed(2)} s of CPU in its threads`);
  console.log("| thread | tid | user s | system s |");
  console.log("|---|---|---|---|");
  for (const [tid, t] of rows)
    if (t.user + t.system >= 0.01) console.log(`| ${t.name} | ${tid} | ${t.user.toFixed(2)} | ${t.system.toFixed(2)} |`);
}
