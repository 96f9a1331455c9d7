/**
 * The Runtime-API as the clients that work use it: the target named inside the server's
 * registry prefix, and the built image confirmed with GET /image_exists before it is
 * reported. Each row runs the compiled binary against the test server process.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { dockerAvailable, dockerSaveSha256, importTestImage, publishToMirror, removeImage, testRegistry } from "./docker-fixture.ts";
import { apiEnv, runCli, startServerProcess, type TestServer, tarOf, tempDir } from "./helpers.ts";
import type { ServerConfig } from "./server.ts";

let server: TestServer;
let archive: string;
const PREFIX = "registry.example.com/runtime";
const FAST = ["--poll-interval", "0.05"];

beforeAll(async () => {
  server = await startServerProcess();
  archive = join(tempDir("ru-naming-"), "img.tar");
  writeFileSync(archive, await tarOf({ "manifest.json": "[]", "layer.tar": "x".repeat(5000) }));
});
afterAll(() => server.stop());
beforeEach(() => server.reset());

interface Row {
  name: string;
  config?: Partial<ServerConfig>;
  args: string[];
  code: number;
  /** target_image as the server received it ("" when nothing was uploaded). */
  target: string;
  /** The [OH] form's repeated tags field, where the row says. */
  tags?: string[];
  stdout: string;
  stderr?: Array<string | RegExp>;
  /** Whether GET /registry_prefix was asked. */
  askedPrefix: boolean;
}

const rows: Row[] = [
  {
    name: "the [UP] form keeps the name as given and asks for no prefix (drop-in)",
    config: { registryPrefix: PREFIX },
    args: ["img:1"],
    code: 0,
    target: "img:1",
    stdout: "img:1\n",
    askedPrefix: false,
  },
  {
    name: "--form openhands names the target inside the server's prefix, tags too",
    config: { registryPrefix: PREFIX },
    args: ["img:1", "t1", "--form", "openhands"],
    code: 0,
    target: `${PREFIX}/img:1`,
    tags: [`${PREFIX}/img:t1`],
    stdout: `${PREFIX}/img:1\n`,
    stderr: [`Target image: ${PREFIX}/img:1 (registry prefix ${PREFIX} from the server)`, `Confirmed on the Runtime-API: ${PREFIX}/img:1`],
    askedPrefix: true,
  },
  {
    name: "--registry-prefix auto on a server without the endpoint falls back to the name, said once",
    args: ["img:1", "--registry-prefix", "auto"],
    code: 0,
    target: "img:1",
    stdout: "img:1\n",
    stderr: ["Warning: the server has no /registry_prefix (HTTP 404): uploading as img:1"],
    askedPrefix: true,
  },
  {
    name: "--registry-prefix PREFIX is used as given, without asking",
    config: { registryPrefix: PREFIX },
    args: ["img:1", "--registry-prefix", "reg.example.org/team/"],
    code: 0,
    target: "reg.example.org/team/img:1",
    stdout: "reg.example.org/team/img:1\n",
    askedPrefix: false,
  },
  {
    name: "a name that already names its registry is left alone",
    config: { registryPrefix: PREFIX },
    args: ["localhost:5000/img:1", "--form", "openhands"],
    code: 0,
    target: "localhost:5000/img:1",
    stdout: "localhost:5000/img:1\n",
    askedPrefix: false,
  },
  {
    name: "--skip-existing checks the name that would be built",
    config: { registryPrefix: PREFIX, existing: [`${PREFIX}/img:1`] },
    args: ["img:1", "--form", "openhands", "--skip-existing"],
    code: 0,
    target: "",
    stdout: `${PREFIX}/img:1\n`,
    stderr: [`${PREFIX}/img:1 already exists on the Runtime-API: skipping the upload`],
    askedPrefix: true,
  },
  {
    name: "a server without /image_exists: the result is reported unconfirmed",
    config: { lacks: ["/image_exists"] },
    args: ["img:1"],
    code: 0,
    target: "img:1",
    stdout: "img:1\n",
    stderr: ["Not confirmed: the server has no /image_exists"],
    askedPrefix: false,
  },
  {
    name: "an /image_exists answer without a boolean 'exists' cannot confirm: said as such, not as malformed JSON",
    config: { faults: [{ path: "/image_exists", status: 200, body: '{"image": {}}' }] },
    args: ["img:1"],
    code: 0,
    target: "img:1",
    stdout: "img:1\n",
    stderr: ["Not confirmed: the server's /image_exists answer holds no boolean 'exists'"],
    askedPrefix: false,
  },
  ...["Reg.Local/Team", "reg.local/my team", `reg.local/app@sha256:${"a".repeat(64)}`, "<b>", "//"].map(
    (prefix): Row => ({
      name: `a server prefix that makes no image reference (${JSON.stringify(prefix)}) fails before any upload, naming the prefix`,
      config: { registryPrefix: prefix },
      args: ["img:1", "--form", "openhands", "--context", "dockerfile"],
      code: 1,
      target: "",
      stdout: "",
      stderr: [`Error: the server's registry prefix ${JSON.stringify(prefix)} (GET /registry_prefix) does not make an image reference`],
      askedPrefix: true,
    }),
  ),
  ...[
    [
      "--registry-prefix that makes no image reference",
      ["img:1", "--registry-prefix", "reg.local/Team"],
      '--registry-prefix "reg.local/Team" does not make an image reference: reg.local/Team/img:1',
    ],
    [
      "an uppercase local image name inside the server's prefix",
      ["MyApp:1", "--form", "openhands"],
      `the target image ${PREFIX}/MyApp:1 is not an image reference`,
    ],
  ].map(
    ([what, args, error]): Row => ({
      name: `${what as string} is a usage error before any upload`,
      config: { registryPrefix: PREFIX },
      args: args as string[],
      code: 2,
      target: "",
      stdout: "",
      stderr: [`Error: ${error}`],
      askedPrefix: (args as string[]).includes("openhands"),
    }),
  ),
  {
    name: "SUCCESS for an image the server then says does not exist is a failure",
    config: { forgets: true },
    args: ["img:1"],
    code: 1,
    target: "img:1",
    stdout: "",
    stderr: [/Error: build [0-9a-f-]+ reported SUCCESS, but the Runtime-API says img:1 does not exist/],
    askedPrefix: false,
  },
];

describe("registry prefix and confirmation", () => {
  test.each(rows.map((r) => [r.name, r] as const))("%s", async (_name, row) => {
    if (row.config) await server.configure(row.config);
    const r = await runCli(["--input", archive, ...row.args, ...FAST], { env: apiEnv(server) });
    expect(r.code, r.stderr).toBe(row.code);
    expect(r.stdout).toBe(row.stdout);
    for (const s of row.stderr ?? []) {
      if (typeof s === "string") expect(r.stderr).toContain(s);
      else expect(r.stderr).toMatch(s);
    }
    const state = await server.state();
    expect(state.uploads[0]?.fields.target_image?.[0] ?? "").toBe(row.target);
    if (row.tags) expect(state.uploads[0]?.fields.tags).toEqual(row.tags);
    expect(state.requests.some((q) => q.path === "/registry_prefix")).toBe(row.askedPrefix);
  });

  test("--json carries the confirmed image, its upload time and size", async () => {
    await server.configure({ registryPrefix: PREFIX });
    const r = await runCli(["--input", archive, "img:1", "--form", "openhands", "--json", ...FAST], { env: apiEnv(server) });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      ok: true,
      image: `${PREFIX}/img:1`,
      upload_time: "2026-01-01T00:00:00Z",
      image_size_bytes: (await server.state()).uploads[0]?.tarBytes,
    });
  });
});

/**
 * The same naming from the engine: the engine is only ever asked for the local image (the
 * name as typed), whatever the server's prefix makes of the target image.
 */
const hasDocker = dockerAvailable();
const registry = hasDocker ? testRegistry() : undefined;
const LOCAL_IMAGE = `ru-naming-${process.pid}:1`;
const PULLED = `ru-naming-pulled-${process.pid}:1`;
const HOSTED = `localhost:5000/ru-naming-${process.pid}:1`;

interface EngineRow {
  name: string;
  args: string[];
  /** The local image the row reads, and the target image the server must receive. */
  local: string;
  target: string;
  context: "image" | "dockerfile";
  pulled?: boolean;
  needsRegistry?: boolean;
}

const engineRows: EngineRow[] = [
  {
    name: "--context image, --pull never",
    args: [LOCAL_IMAGE, "--pull", "never"],
    local: LOCAL_IMAGE,
    target: `${PREFIX}/${LOCAL_IMAGE}`,
    context: "image",
  },
  {
    name: "--context dockerfile, --pull missing",
    args: [LOCAL_IMAGE, "--context", "dockerfile", "--pull", "missing"],
    local: LOCAL_IMAGE,
    target: `${PREFIX}/${LOCAL_IMAGE}`,
    context: "dockerfile",
  },
  {
    name: "--skip-existing with the target image absent",
    args: [LOCAL_IMAGE, "--skip-existing"],
    local: LOCAL_IMAGE,
    target: `${PREFIX}/${LOCAL_IMAGE}`,
    context: "image",
  },
  {
    name: "--pull always pulls the name as typed",
    args: [PULLED, "--pull", "always"],
    local: PULLED,
    target: `${PREFIX}/${PULLED}`,
    context: "image",
    pulled: true,
    needsRegistry: true,
  },
  {
    name: "--context dockerfile, a name that already carries a registry host",
    args: [HOSTED, "--context", "dockerfile"],
    local: HOSTED,
    target: HOSTED,
    context: "dockerfile",
  },
];

describe.skipIf(!hasDocker)("from the engine, the local image is read and the target image is built", () => {
  let engineServer: TestServer;
  const saveSha = new Map<string, string>();
  beforeAll(async () => {
    engineServer = await startServerProcess();
    importTestImage(LOCAL_IMAGE, 1);
    Bun.spawnSync(["docker", "tag", LOCAL_IMAGE, HOSTED]);
    for (const name of [LOCAL_IMAGE, HOSTED]) saveSha.set(name, await dockerSaveSha256(name));
    if (registry) {
      importTestImage(PULLED, 1);
      saveSha.set(PULLED, await dockerSaveSha256(PULLED));
      publishToMirror(registry, PULLED);
    }
  }, 120_000);
  afterAll(() => {
    engineServer?.stop();
    for (const name of [LOCAL_IMAGE, HOSTED, PULLED]) removeImage(name);
  });
  beforeEach(() => engineServer.reset());

  test.each(engineRows.filter((r) => registry || !r.needsRegistry).map((r) => [r.name, r] as const))(
    "%s",
    async (_name, row) => {
      await engineServer.configure({ registryPrefix: PREFIX });
      const r = await runCli([...row.args, "--form", "openhands", ...FAST], { env: apiEnv(engineServer) });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${row.target}\n`);
      expect(r.stderr).not.toContain(`Pulling Docker image: ${PREFIX}`);
      if (row.pulled) expect(r.stderr).toContain(`Pulling Docker image: ${row.local}\n`);
      else expect(r.stderr).not.toContain("Pulling Docker image");
      const [up] = (await engineServer.state()).uploads;
      expect(up?.fields.target_image).toEqual([row.target]);
      if (row.context === "image") expect(up?.tarSha256).toBe(saveSha.get(row.local));
      else expect(up?.entries).toEqual(["Dockerfile", "rootfs.tar"]);
    },
    60_000,
  );
});
