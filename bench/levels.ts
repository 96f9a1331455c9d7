/**
 * The --level table for the README: libdeflate speed and ratio per level on one archive,
 * compression alone on all cores (bench/compress-only.ts), same 2 MiB blocks as the tool.
 *   bun bench/levels.ts FILE [--levels 1,3,6,9]
 */
import { join } from "node:path";
import { option } from "../scripts/option.ts";

const file = process.argv[2] as string;
const levels = (option("levels") ?? "1,3,6,9").split(",").map(Number);

console.log("| level | MB/s (input, all cores) | ratio |");
console.log("|---|---|---|");
for (const level of levels) {
  const r = Bun.spawnSync([process.execPath, join(import.meta.dir, "compress-only.ts"), file, "--level", String(level)]);
  const { seconds, bytesIn, bytesOut } = JSON.parse(r.stdout.toString());
  console.log(`| ${level} | ${(bytesIn / 1e6 / seconds).toFixed(1)} | ${(bytesIn / bytesOut).toFixed(3)} |`);
}
