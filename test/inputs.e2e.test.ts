/** Every input kind and output mode of the compiled binary, against the test server process. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createWriteStream, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import Ajv from "ajv";
import { writeSampleImage } from "../scripts/sample-image.ts";
import { resolveEngine } from "../src/source/engine.ts";
import { apiEnv, hasTool, KEY, runCli, sha256File, startServerProcess, type TestServer, tempDir } from "./helpers.ts";
import schema from "./result.schema.json" with { type: "json" };

let server: TestServer;
let dir: string;
let archive: string;
let archiveSha: string;
const FAST = ["--poll-interval", "0.05"];
const validate = new Ajv({ allErrors: true }).compile(schema);
const hasSkopeo = hasTool("skopeo");

beforeAll(async () => {
  server = await startServerProcess();
  dir = tempDir("ru-inputs-");
  archive = join(dir, "image.tar");
  await writeSampleImage(createWriteStream(archive), { size: 6 * 1024 * 1024, tag: "sample:inputs", seed: 11 });
  archiveSha = await sha256File(archive);
});
afterAll(() => server.stop());
beforeEach(() => server.reset());

function sha256(path: string): string {
  return new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
}

/** name → sha256 of every regular file below `root`, as a tar of it names them. */
function treeDigests(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(root, p)] = sha256(p);
    }
  };
  walk(root);
  return out;
}

function parseJson(stdout: string) {
  const lines = stdout.trim().split("\n");
  expect(lines.length).toBe(1);
  const obj = JSON.parse(lines[0] as string);
  expect(validate(obj), JSON.stringify(validate.errors)).toBe(true);
  return obj;
}

describe("input kinds", () => {
  test.skipIf(!hasSkopeo)(
    "an OCI layout folder made by skopeo arrives file for file",
    async () => {
      const layout = join(dir, "oci-layout");
      const r0 = Bun.spawnSync(["skopeo", "copy", "--quiet", `docker-archive:${archive}`, `oci:${layout}:inputs`], { stderr: "pipe" });
      expect(r0.exitCode, r0.stderr.toString()).toBe(0);
      const r = await runCli(["--input", layout, "sample:inputs", ...FAST], { env: apiEnv(server) });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`Reading image from OCI layout ${layout}`);
      const [up] = (await server.state()).uploads;
      expect(up?.files).toEqual(treeDigests(layout));
      expect(up?.entries).toContain("index.json");
    },
    60_000,
  );

  test.skipIf(!hasSkopeo)(
    "an OCI archive file arrives byte-identical",
    async () => {
      const ociTar = join(dir, "image-oci.tar");
      expect(Bun.spawnSync(["skopeo", "copy", "--quiet", `docker-archive:${archive}`, `oci-archive:${ociTar}:inputs`]).exitCode).toBe(0);
      const r = await runCli(["--input", ociTar, "img", ...FAST], { env: apiEnv(server) });
      expect(r.code, r.stderr).toBe(0);
      expect((await server.state()).uploads[0]?.tarSha256).toBe(await sha256File(ociTar));
    },
    60_000,
  );

  test("a gzip'd archive is sent as it is, not compressed twice", async () => {
    const gz = join(dir, "image.tar.gz");
    writeFileSync(gz, Bun.spawnSync(["gzip", "-c", archive]).stdout);
    const r = await runCli(["--input", gz, "img", ...FAST], { env: apiEnv(server) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("(gzip, sent as is)");
    const [up] = (await server.state()).uploads;
    expect(up?.tarSha256).toBe(archiveSha);
    expect(up?.gzipBytes).toBe(statSync(gz).size);
  });

  test.each([
    [
      "a folder without index.json",
      () => mkdirSync(join(dir, "not-oci"), { recursive: true }) ?? join(dir, "not-oci"),
      "is a folder but not an OCI image layout: it has no oci-layout",
    ],
    [
      "a file that is not a tar",
      () => {
        writeFileSync(join(dir, "notes.txt"), "just some text, not an image\n".repeat(40));
        return join(dir, "notes.txt");
      },
      "is neither a tar archive nor gzip",
    ],
  ])("%s is refused before anything is sent", async (_name, make, message) => {
    const path = make();
    const r = await runCli(["--input", path, "img"], { env: apiEnv(server) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect((await server.state()).requests).toEqual([]);
  });
});

describe("request shapes and modes", () => {
  test("--form openhands sends base64 context and repeated full-reference tags", async () => {
    const r = await runCli(["--input", archive, "reg.example:5000/team/app:abc", "latest", "v2", "--form", "openhands", ...FAST], {
      env: apiEnv(server),
    });
    expect(r.code, r.stderr).toBe(0);
    const [up] = (await server.state()).uploads;
    expect(up?.shape).toBe("oh");
    expect(up?.file?.filename).toBe("context.tar.gz");
    expect(up?.fields).toEqual({
      target_image: ["reg.example:5000/team/app:abc"],
      tags: ["reg.example:5000/team/app:latest", "reg.example:5000/team/app:v2"],
    });
    expect(up?.tarSha256).toBe(archiveSha);
  });

  test("--dry-run needs no credentials and reports the digest a real upload sends", async () => {
    const dry = await runCli(["--input", archive, "img", "--dry-run", "--json"], { env: {} });
    expect(dry.code, dry.stderr).toBe(0);
    const result = parseJson(dry.stdout);
    expect(result).toMatchObject({ ok: true, outcome: "dry-run", build_id: null });
    const real = await runCli(["--input", archive, "img", "--json", ...FAST], { env: apiEnv(server) });
    expect(parseJson(real.stdout).sha256).toBe(result.sha256);
  });

  test("--skip-existing skips an image the server has, and uploads one it has not", async () => {
    await server.configure({ existing: ["img:1"] });
    const skipped = await runCli(["--input", archive, "img:1", "--skip-existing", "--json"], { env: apiEnv(server) });
    expect(skipped.code, skipped.stderr).toBe(0);
    expect(skipped.stderr).toContain("img:1 already exists on the Runtime-API: skipping the upload");
    expect(parseJson(skipped.stdout)).toMatchObject({ ok: true, outcome: "skipped", image: "img:1" });
    expect((await server.state()).requests.map((q) => q.path)).toEqual(["/image_exists"]);
    const built = await runCli(["--input", archive, "img:2", "--skip-existing", ...FAST], { env: apiEnv(server) });
    expect(built.code, built.stderr).toBe(0);
    expect((await server.state()).uploads.length).toBe(1);
  });
});

describe("--json", () => {
  test("success: one object on stdout, valid against test/result.schema.json", async () => {
    const r = await runCli(["--input", archive, "img", "t1", "--json", ...FAST], { env: apiEnv(server) });
    expect(r.code).toBe(0);
    const [up] = (await server.state()).uploads;
    expect(parseJson(r.stdout)).toMatchObject({
      ok: true,
      outcome: "built",
      build_id: up?.id,
      status: "SUCCESS",
      image: "img",
      bytes_read: statSync(archive).size,
    });
  });

  test("failure: the same shape with the error code, and never the key", async () => {
    await server.configure({ statuses: ["FAILURE:no space left"] });
    const r = await runCli(["--input", archive, "img", "--json", ...FAST], { env: apiEnv(server) });
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain(KEY);
    expect(parseJson(r.stdout)).toMatchObject({
      ok: false,
      outcome: "failed",
      status: "FAILURE",
      error: { code: "BUILD_FAILED", message: "no space left" },
    });
  });
});

test.each([
  ["auto", ["docker", "podman"], "docker"],
  ["auto", ["podman"], "podman"],
  ["auto", [], "docker"],
  ["podman", ["docker", "podman"], "podman"],
])("--engine %s with %p installed uses %s", (choice, installed, bin) => {
  expect(resolveEngine(choice, (b) => (installed.includes(b) ? `/usr/bin/${b}` : null))).toEqual({ bin });
});
