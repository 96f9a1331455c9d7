import { describe, expect, test } from "bun:test";
import { workerUrl } from "./worker-url.ts";

describe("workerUrl", () => {
  test.each([
    [
      "run from source: the Worker's own file under src/",
      { dir: "/repo/src/upload", url: "file:///repo/src/upload/spend-hashed.ts" },
      "file:///repo/src/gzip/worker.ts",
    ],
    [
      "in the compiled binary: beside the entry point's bundle",
      { dir: "/$bunfs/root", url: "file:///$bunfs/root/runtime-upload" },
      "file:///$bunfs/root/gzip/worker.ts",
    ],
  ])("%s", (_what, caller, expected) => {
    expect(workerUrl(caller, "gzip/worker.ts")).toBe(expected);
  });

  test("from this source tree, names files that exist", async () => {
    for (const path of ["gzip/worker.ts", "upload/sha256-worker.ts"]) {
      expect(await Bun.file(new URL(workerUrl(import.meta, path))).exists()).toBe(true);
    }
  });
});
