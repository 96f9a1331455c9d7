/**
 * How many bytes of a streamed request body Bun's fetch takes before the link shows: a
 * loopback sink that reads `--read` MB of the body (0: none) and then stops reading, and
 * the bytes fetch has pulled from the body once they stop growing. Until then a fast link
 * and a slow one look the same to --level auto (the send side waits for blocks on both),
 * which is why it judges nothing before 16 MB are sent (src/gzip/level-control.ts).
 *
 *   bun bench/fetch-absorbs.ts [--read 0,1,4]
 *
 * Linux grows a socket's buffers with what the reader takes (net.ipv4.tcp_rmem, _wmem),
 * so a sink that reads at a set rate lets more go before it shows. Timing lives here,
 * never in tests.
 */
import { createServer, type Socket } from "node:net";
import { option } from "../scripts/option.ts";

const reads = (option("read") ?? "0,1,4").split(",").map(Number);
const CHUNK = 1 << 20;

async function absorbed(readMb: number): Promise<number> {
  const server = createServer((socket: Socket) => {
    let taken = 0;
    if (readMb === 0) socket.pause();
    socket.on("data", (chunk: Buffer) => {
      taken += chunk.byteLength;
      if (taken >= readMb * 1e6) socket.pause();
    });
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const { port } = server.address() as { port: number };
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        pulled += CHUNK;
        controller.enqueue(new Uint8Array(CHUNK));
      },
    },
    { highWaterMark: 0 },
  );
  const abort = new AbortController();
  fetch(`http://127.0.0.1:${port}/build`, { method: "POST", body, signal: abort.signal }).catch(() => {});
  // Settled: no growth over half a second.
  let last = -1;
  while (pulled !== last) {
    last = pulled;
    await Bun.sleep(500);
  }
  abort.abort();
  server.close();
  return pulled;
}

console.log("| the sink reads, then stops | fetch took from the body |");
console.log("|---|---|");
for (const mb of reads) console.log(`| ${mb} MB | ${((await absorbed(mb)) / 1e6).toFixed(1)} MB |`);
