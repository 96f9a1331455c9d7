/**
 * Where a Worker's module is, `path` being its place under src/ ("gzip/worker.ts"). Run
 * from source, the caller sits in a folder of src/; in the compiled binary every module is
 * part of the entry point's bundle (src/cli.ts), and build.ts puts each Worker at its src/
 * path beside it.
 */
import { basename, dirname } from "node:path";

export function workerUrl(caller: { dir: string; url: string }, path: string): string {
  const fromSource = basename(dirname(caller.dir)) === "src";
  return new URL(`${fromSource ? "../" : "./"}${path}`, caller.url).href;
}
