/** A CONNECT proxy on loopback for tests: tunnels bytes both ways and records each request line. */
import type { Socket } from "bun";

interface Side {
  peer?: Socket<Side>;
  pending: Uint8Array[];
  head: Buffer;
}

/** Writes with backpressure: what the socket did not take waits for its drain event. */
function send(sock: Socket<Side>, chunk: Uint8Array): void {
  if (sock.data.pending.length) {
    sock.data.pending.push(chunk);
    return;
  }
  const n = sock.write(chunk);
  if (n < chunk.byteLength) sock.data.pending.push(chunk.subarray(Math.max(n, 0)));
}

function flush(sock: Socket<Side>): void {
  while (sock.data.pending.length) {
    const chunk = sock.data.pending[0] as Uint8Array;
    const n = sock.write(chunk);
    if (n < chunk.byteLength) {
      sock.data.pending[0] = chunk.subarray(Math.max(n, 0));
      return;
    }
    sock.data.pending.shift();
  }
}

export function startConnectProxy() {
  const seen: string[] = [];
  const server = Bun.listen<Side>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { pending: [], head: Buffer.alloc(0) };
      },
      data(s, chunk) {
        if (s.data.peer) return send(s.data.peer, chunk);
        s.data.head = Buffer.concat([s.data.head, chunk]);
        const end = s.data.head.indexOf("\r\n\r\n");
        if (end < 0) return;
        const line = s.data.head.subarray(0, s.data.head.indexOf("\r\n")).toString();
        seen.push(line);
        const m = /^CONNECT ([^:\s]+):(\d+) HTTP\/1\.[01]$/.exec(line);
        if (!m) {
          s.end("HTTP/1.1 405 Method Not Allowed\r\n\r\n");
          return;
        }
        const rest = s.data.head.subarray(end + 4);
        Bun.connect<Side>({
          hostname: m[1] as string,
          port: Number(m[2]),
          socket: {
            open(up) {
              up.data = { peer: s, pending: [], head: Buffer.alloc(0) };
              s.data.peer = up;
              send(s, Buffer.from("HTTP/1.1 200 Connection Established\r\n\r\n"));
              if (rest.length) send(up, rest);
            },
            data(_up, c) {
              send(s, c);
            },
            drain: flush,
            close() {
              s.end();
            },
            error() {
              s.end();
            },
          },
        }).catch(() => s.end("HTTP/1.1 502 Bad Gateway\r\n\r\n"));
      },
      drain: flush,
      close(s) {
        s.data.peer?.end();
      },
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen, stop: () => server.stop(true) };
}
