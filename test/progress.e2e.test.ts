/**
 * --progress json: stderr holds one JSON event a line, each valid against
 * test/progress.schema.json, for a whole upload, a reuse upload and a failure; the run ends
 * with one result event.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createWriteStream, writeFileSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import { writeSampleImage } from "../scripts/sample-image.ts";
import { baseName, chainIds } from "../src/context/base-images.ts";
import { archiveDocuments } from "../src/context/image-archive.ts";
import { seekEntries } from "../src/tar/list.ts";
import { apiEnv, runCli, startServerProcess, type TestServer, tempDir } from "./helpers.ts";
import { file, saveArchiveOf } from "./image-fixture.ts";
import progress from "./progress.schema.json" with { type: "json" };
import result from "./result.schema.json" with { type: "json" };

const validate = new Ajv({ allErrors: true }).addSchema(result, "result.schema.json").compile(progress);
const PREFIX = "registry.test/runtime";

let server: TestServer;
let sample: string;
let layered: string;
let base: string;
beforeAll(async () => {
  server = await startServerProcess(["--statuses", "RUNNING,SUCCESS"]);
  const dir = tempDir("ru-progress-");
  sample = join(dir, "sample.tar");
  await writeSampleImage(createWriteStream(sample), { size: 4 * 1024 * 1024, tag: "sample:progress", seed: 3 });
  layered = join(dir, "layered.tar");
  const layers = [0, 1, 2].map((i) => [file(`layer-${i}.txt`, `${i}\n`)]);
  const archive = await saveArchiveOf(layers, { tag: "layered:1" });
  writeFileSync(layered, archive);
  const docs = await archiveDocuments(seekEntries(layered, archive.byteLength));
  base = baseName(PREFIX, chainIds(docs.identity?.diffIds ?? [])[1] as string);
});
afterAll(() => server.stop());

/** Each stderr line as an event, checked against the schema. */
function events(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const event = JSON.parse(line);
      expect({ line, valid: validate(event), errors: validate.errors }).toMatchObject({ valid: true });
      return event;
    });
}

describe("--progress json", () => {
  test("a whole upload: phases, bytes, the build's status, then the result, every line valid", async () => {
    await server.reset();
    const r = await runCli(["--input", sample, "img", "--progress", "json", "--poll-interval", "0.05"], { env: apiEnv(server) });
    expect(r.code, r.stderr).toBe(0);
    const all = events(r.stderr);
    const phases = all.filter((e) => e.event === "phase").map((e) => e.phase);
    expect(phases).toEqual(["sending", "uploading", "waiting-for-build"]);
    expect(all.some((e) => e.event === "sent")).toBe(true);
    expect(all.filter((e) => e.event === "status").map((e) => e.status)).toContain("SUCCESS");
    expect(all.at(-1)).toMatchObject({ event: "result", result: { ok: true, outcome: "built" } });
  });

  test("a reuse upload: the plan layer by layer, two on the server and one sent", async () => {
    await server.reset();
    await server.configure({ registryPrefix: PREFIX, existing: [base], statuses: ["SUCCESS"] });
    const args = [
      "--context",
      "dockerfile",
      "--form",
      "openhands",
      "--input",
      layered,
      "layered:1",
      "--progress",
      "json",
      "--poll-interval",
      "0.05",
    ];
    const r = await runCli(args, { env: apiEnv(server) });
    expect(r.code, r.stderr).toBe(0);
    const all = events(r.stderr);
    expect(all.filter((e) => e.event === "phase").map((e) => e.phase)[0]).toBe("asking");
    expect(all.filter((e) => e.event === "layer").map((e) => [e.position, e.state, e.base])).toEqual([
      [0, "on-server", base],
      [1, "on-server", base],
      [2, "sending", null],
    ]);
    expect(all.at(-1)).toMatchObject({ event: "result", result: { ok: true, layers_reused: 2, layers_total: 3 } });
  });

  test.each([
    ["an unknown option", ["img", "--bogus", "--progress", "json"]],
    ["a level out of range", ["img", "--level", "13", "--progress=json"]],
    ["a tag that is not a Docker tag", ["--progress", "json", "img", "bad tag"]],
  ])("a usage error (%s): one result event with the error, and nothing else on stderr", async (_what, args) => {
    const r = await runCli(args, { env: apiEnv(server) });
    expect(r.code).toBe(2);
    const all = events(r.stderr);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ event: "result", result: { ok: false, error: { code: "USAGE" } } });
  });

  test("a failure: the error in the result event, and no line for a person", async () => {
    await server.reset();
    const r = await runCli(["--input", sample, "img", "--progress", "json"], { env: apiEnv(server, "rk_wrong_key_0123456789") });
    expect(r.code).toBe(1);
    const all = events(r.stderr);
    expect(all.at(-1)).toMatchObject({ event: "result", result: { ok: false, error: { code: "AUTH" } } });
  });
});
