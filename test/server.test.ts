/** The test server itself must accept both client shapes of the contract. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import { KEY, startServerProcess, type TestServer } from "./helpers.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startServerProcess();
});
afterAll(() => server.stop());

async function buildContextTar(): Promise<Buffer> {
  const p = pack();
  p.entry({ name: "Dockerfile" }, "FROM scratch\nCOPY hello /\n");
  p.entry({ name: "hello" }, "hello\n");
  p.finalize();
  return Buffer.from(await new Response(p as unknown as ReadableStream).arrayBuffer());
}

test("accepts the OpenHands shape: base64 gzip context, repeated tags", async () => {
  await server.reset();
  const tar = await buildContextTar();
  const form = new FormData();
  form.append("context", new Blob([gzipSync(tar).toString("base64")]), "context.tar.gz");
  form.append("target_image", "reg/app:hash");
  form.append("tags", "reg/app:latest");
  form.append("tags", "reg/app:v2");
  const res = await fetch(`${server.url}/build`, { method: "POST", body: form, headers: { "X-API-Key": KEY } });
  expect(res.status).toBe(202);
  const { build_id } = (await res.json()) as { build_id: string };
  const [up] = (await server.state()).uploads;
  expect(up?.id).toBe(build_id);
  expect(up?.shape).toBe("oh");
  expect(up?.fields.tags).toEqual(["reg/app:latest", "reg/app:v2"]);
  expect(up?.entries).toEqual(["Dockerfile", "hello"]);
  expect(up?.tarSha256).toBe(new Bun.CryptoHasher("sha256").update(tar).digest("hex"));
});

test("refuses a gzip that holds no docker save manifest", async () => {
  await server.reset();
  const form = new FormData();
  form.append("target_image", "x");
  form.append("context", new Blob([gzipSync(await buildContextTar())], { type: "application/gzip" }), "image.tar.gz");
  const res = await fetch(`${server.url}/build`, { method: "POST", body: form, headers: { "X-API-Key": KEY } });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { detail: string }).detail).toContain("no manifest.json");
});

test("answers 401 with a detail for a wrong key, and 404 for an unknown build", async () => {
  const bad = await fetch(`${server.url}/build_status?build_id=x`, { headers: { "X-API-Key": "nope" } });
  expect(bad.status).toBe(401);
  expect(await bad.json()).toEqual({ detail: "Invalid API Key" });
  const missing = await fetch(`${server.url}/build_status?build_id=nope`, { headers: { "X-API-Key": KEY } });
  expect(missing.status).toBe(404);
});
