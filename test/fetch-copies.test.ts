/**
 * A block buffer is filled again once its member is spent, and `spendHashed` calls a chunk
 * spent when fetch asks for the next one (then hashes it on a Worker, and hands its buffer
 * back). That holds only while Bun's fetch copies each chunk as it writes it, which Bun does
 * but does not promise. These uploads poison every spent chunk, and every buffer back from
 * the hashing Worker, on the spot: a fetch that read a chunk after asking for the next would
 * send the poison, and the server's digest of what it received would differ from the file's.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startBuild } from "../src/api/client.ts";
import { FILE_PART, formFields, multipart } from "../src/api/multipart.ts";
import { type Afterwards, Recycler } from "../src/lib/recycle.ts";
import { fileSource } from "../src/source/file-source.ts";
import { type Progress, uploadBody } from "../src/upload/body.ts";
import { KEY, sha256File, startServerProcess, type TestServer, tarOf, tempDir } from "./helpers.ts";
import { type Certs, makeCerts } from "./tls-fixture.ts";

class Poisoning extends Recycler {
  poisoned = 0;
  override spent(chunk: Uint8Array): void {
    chunk.fill(0xee);
    this.poisoned++;
    super.spent(chunk);
  }
  override settle(buffer: ArrayBuffer, afterwards: Afterwards): void {
    new Uint8Array(buffer).fill(0xee);
    this.poisoned++;
    super.settle(buffer, afterwards);
  }
}

const BLOCK = 256 * 1024;
let archive: string;
let certs: Certs;
const servers: TestServer[] = [];

beforeAll(async () => {
  // Random bytes beside text: stored members (the block's own buffer is sent) and
  // compressed ones (a buffer of their own) in one body.
  const text = new TextEncoder().encode("a layer of text, which deflate shrinks well. ".repeat(40_000));
  archive = join(tempDir("ru-fetch-copies-"), "image.tar");
  writeFileSync(
    archive,
    await tarOf({ "manifest.json": "[]", "random.bin": crypto.getRandomValues(new Uint8Array(6 * BLOCK + 77)), "text.txt": text }),
  );
  certs = makeCerts();
});
afterAll(() => {
  for (const s of servers) s.stop();
});

describe.each([
  ["http", []],
  ["https", ["tls"]],
] as const)("over %s", (_scheme, tls) => {
  let server: TestServer;
  beforeAll(async () => {
    server = tls.length
      ? await startServerProcess(["--tls-cert", certs.cert, "--tls-key", certs.key], certs.ca)
      : await startServerProcess();
    servers.push(server);
  });

  test.each([
    ["a server that reads as fast as it can", undefined],
    ["a server that reads slowly (fetch held back by backpressure)", 8 * 1024 * 1024],
  ])(
    "every byte arrives as read from the file, with %s",
    async (_name, readRate) => {
      await server.reset();
      if (readRate) await server.configure({ faults: [{ path: "/build", readRate }] });
      const recycler = new Poisoning(Infinity);
      const progress: Progress = { read: { bytes: 0 }, sent: { bytes: 0 } };
      const req = {
        endpoint: { baseUrl: server.url, apiKey: KEY, ...(tls.length ? { tls: { ca: await Bun.file(certs.ca).text() } } : {}) },
        targetImage: "img:t",
        tags: [],
        source: fileSource(archive),
        gzip: { mode: "parallel" as const, level: 6, jobs: 2, blockSize: BLOCK },
        form: "runtime" as const,
      };
      let digest = "";
      const body = uploadBody(req, progress, (hex) => (digest = hex), recycler);
      const form = multipart(formFields(req.targetImage, req.tags), { ...FILE_PART.runtime, body });
      expect(await startBuild(req.endpoint, form, AbortSignal.timeout(60_000))).toBeTruthy();
      const upload = (await server.state()).uploads[0];
      expect(upload?.error).toBeUndefined();
      expect(upload?.tarSha256).toBe(await sha256File(archive));
      // The digest the tool names is of the bytes sent, hashed after fetch had copied them.
      expect(digest).toBe(upload?.partSha256 as string);
      // Not vacuous: chunks were spent (and poisoned) while the body was still being sent.
      expect(recycler.poisoned).toBeGreaterThan(8);
    },
    60_000,
  );
});
