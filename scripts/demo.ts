/**
 * The main job end to end with no Docker engine and no credentials: a local Runtime-API
 * test server, a generated sample image archive, and the compiled binary uploading it.
 *   npm run demo
 */
import { createWriteStream, rmSync } from "node:fs";
import { join } from "node:path";
import { apiEnv, BIN, startServerProcess, tempDir } from "../test/helpers.ts";
import { writeSampleImage } from "./sample-image.ts";

const dir = tempDir("ru-demo-");
const archive = join(dir, "sample-image.tar");
console.log(`demo: writing a 32 MiB sample image archive to ${archive}`);
await writeSampleImage(createWriteStream(archive), { size: 32 * 1024 * 1024, tag: "sample:demo", seed: 1 });

const server = await startServerProcess(["--statuses", "PENDING,RUNNING,SUCCESS"]);
console.log(`demo: test Runtime-API listening on ${server.url}`);
const args = ["--input", archive, "sample:demo", "latest", "--poll-interval", "1"];
console.log(`demo: RUNTIME_API_URL=${server.url} RUNTIME_API_KEY=*** ${BIN} ${args.join(" ")}\n`);
const proc = Bun.spawn([BIN, ...args], { env: { ...process.env, ...apiEnv(server) }, stdio: ["ignore", "inherit", "inherit"] });
const code = await proc.exited;

const upload = (await server.state()).uploads[0];
console.log(`\ndemo: the server received ${upload?.gzipBytes} gzip bytes, ${upload?.tarBytes} tar bytes, sha256 ${upload?.tarSha256}`);
server.stop();
rmSync(dir, { recursive: true, force: true });
console.log(code === 0 ? "demo: build reached SUCCESS" : `demo: failed with exit code ${code}`);
process.exit(code);
