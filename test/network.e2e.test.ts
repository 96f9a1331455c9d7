/** HTTPS with a private CA, --insecure, and a CONNECT proxy: all on loopback, with the compiled binary. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { writeSampleImage } from "../scripts/sample-image.ts";
import { apiEnv, runCli, sha256File, startServerProcess, type TestServer, tempDir } from "./helpers.ts";
import { startConnectProxy } from "./proxy.ts";
import { type Certs, makeCerts } from "./tls-fixture.ts";

let certs: Certs;
let server: TestServer;
let proxy: ReturnType<typeof startConnectProxy>;
let archive: string;
let archiveSha: string;
const FAST = ["--poll-interval", "0.05"];

beforeAll(async () => {
  certs = makeCerts();
  server = await startServerProcess(["--tls-cert", certs.cert, "--tls-key", certs.key], certs.ca);
  proxy = startConnectProxy();
  archive = join(tempDir(), "image.tar");
  await writeSampleImage(createWriteStream(archive), { size: 4 * 1024 * 1024, tag: "sample:tls", seed: 5 });
  archiveSha = await sha256File(archive);
}, 60_000);
afterAll(() => {
  server.stop();
  proxy.stop();
});
beforeEach(async () => {
  await server.reset();
  proxy.seen.length = 0;
});

async function expectUploaded() {
  const [up] = (await server.state()).uploads;
  expect(up?.complete).toBe(true);
  expect(up?.tarSha256).toBe(archiveSha);
}

describe("a private CA", () => {
  test("--cacert FILE trusts it", async () => {
    const r = await runCli(["--input", archive, "img", "--cacert", certs.ca, ...FAST], { env: apiEnv(server) });
    expect(r.code, r.stderr).toBe(0);
    await expectUploaded();
  });

  test("SSL_CERT_FILE trusts it too", async () => {
    const r = await runCli(["--input", archive, "img", ...FAST], { env: { ...apiEnv(server), SSL_CERT_FILE: certs.ca } });
    expect(r.code, r.stderr).toBe(0);
    await expectUploaded();
  });

  test("without it the TLS failure is named, with the fix, and not retried", async () => {
    const r = await runCli(["--input", archive, "img", ...FAST], { env: apiEnv(server) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Error: TLS failed for 127\.0\.0\.1:\d+/);
    expect(r.stderr).toContain("--cacert FILE");
    expect(r.stderr).not.toContain("retrying");
  });

  test("--insecure works and says loudly what it gives up", async () => {
    const r = await runCli(["--input", archive, "img", "--insecure", ...FAST], { env: apiEnv(server) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("Warning: --insecure: the server's TLS certificate is NOT verified");
    await expectUploaded();
  });

  test("a --cacert that is not PEM is refused before any request", async () => {
    const r = await runCli(["--input", archive, "img", "--cacert", archive], { env: apiEnv(server) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("is not a PEM certificate file");
    expect((await server.state()).requests).toEqual([]);
  });
});

describe("a proxy", () => {
  test("HTTPS_PROXY carries the upload and the polling through CONNECT", async () => {
    const r = await runCli(["--input", archive, "img", "--cacert", certs.ca, ...FAST], {
      env: { ...apiEnv(server), HTTPS_PROXY: proxy.url },
    });
    expect(r.code, r.stderr).toBe(0);
    await expectUploaded();
    const port = new URL(server.url).port;
    expect(proxy.seen.length).toBeGreaterThan(0);
    expect(proxy.seen.every((l) => l === `CONNECT 127.0.0.1:${port} HTTP/1.1`)).toBe(true);
  });

  test("NO_PROXY bypasses it", async () => {
    const r = await runCli(["--input", archive, "img", "--cacert", certs.ca, ...FAST], {
      env: { ...apiEnv(server), HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1" },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.seen).toEqual([]);
  });
});
