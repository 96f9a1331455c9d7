/**
 * What --context dockerfile's memory grows with: the number of paths. Writes docker save
 * archives of N small files (two layers; the upper one rewrites a tenth of them and
 * deletes a folder), then measures a dry run's peak RSS and time for each N.
 *
 *   bun bench/flatten-paths.ts [--counts 20000,200000]
 *
 * Needs: npm run build. Timing lives here, never in tests.
 */
import { createHash } from "node:crypto";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { pack } from "tar-stream";
import { option } from "../scripts/option.ts";
import { BIN, ROOT } from "../test/helpers.ts";
import { measure } from "./measure.ts";

const counts = (option("counts") ?? "20000,200000").split(",").map(Number);

async function tarBytes(fill: (p: ReturnType<typeof pack>) => void): Promise<Buffer> {
  const p = pack();
  const parts: Buffer[] = [];
  const done = (async () => {
    for await (const c of p as unknown as AsyncIterable<Buffer>) parts.push(c);
  })();
  fill(p);
  p.finalize();
  await done;
  return Buffer.concat(parts);
}

/** n files in folders of 1,000, names like a real tree's (~60 bytes a path). */
async function archive(n: number): Promise<string> {
  const name = (k: number) => `usr/lib/python3/site-packages/pkg${Math.floor(k / 1000)}/module_${k}_file.py`;
  const lower = await tarBytes((p) => {
    for (let k = 0; k < n; k += 1000) p.entry({ name: `usr/lib/python3/site-packages/pkg${k / 1000}/`, type: "directory" });
    for (let k = 0; k < n; k++) p.entry({ name: name(k) }, `# ${k}\n`);
  });
  const upper = await tarBytes((p) => {
    p.entry({ name: "usr/lib/python3/site-packages/.wh.pkg0" }, "");
    for (let k = 1000; k < n; k += 10) p.entry({ name: name(k) }, `# ${k} v2\n`);
  });
  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
  const config = Buffer.from(
    JSON.stringify({
      os: "linux",
      architecture: "amd64",
      config: { Cmd: ["sh"] },
      rootfs: { type: "layers", diff_ids: [lower, upper].map((t) => `sha256:${sha(t)}`) },
    }),
  );
  const dir = join(ROOT, "bench", ".cache");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `paths-${n}.tar`);
  const out = await tarBytes((p) => {
    p.entry({ name: "l0/layer.tar" }, lower);
    p.entry({ name: "l1/layer.tar" }, upper);
    p.entry({ name: "config.json" }, config);
    p.entry(
      { name: "manifest.json" },
      JSON.stringify([{ Config: "config.json", RepoTags: ["paths:1"], Layers: ["l0/layer.tar", "l1/layer.tar"] }]),
    );
  });
  await new Promise<void>((resolve, reject) =>
    createWriteStream(file)
      .end(out, () => resolve())
      .on("error", reject),
  );
  return file;
}

console.log("| paths | archive MiB | peak RSS MiB (context) | peak RSS MiB (image) | seconds (context) |");
console.log("|---|---|---|---|---|");
for (const n of counts) {
  const file = await archive(n);
  const run = (context: string) => measure([BIN, "--dry-run", "--quiet", "--context", context, "--input", file, "paths:1"], process.env);
  const ctx = await run("dockerfile");
  const img = await run("image");
  if (ctx.code !== 0) throw new Error(ctx.stderr);
  const mib = (b: number) => (b / 1048576).toFixed(0);
  console.log(`| ${n} | ${mib(Bun.file(file).size)} | ${mib(ctx.peakRss)} | ${mib(img.peakRss)} | ${ctx.seconds.toFixed(1)} |`);
}
