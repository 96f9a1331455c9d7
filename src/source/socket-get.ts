/**
 * One HTTP/1.1 GET over a unix socket, its answer's body read with backpressure: the
 * engine's save without fetch. Fetch reads on its HTTP thread and hands the main thread
 * chunks of about 55 KB; here the main thread reads what the socket holds, so a busy
 * pipeline takes larger chunks (90 KB on average on one core here, 200 on two), each one
 * step fewer for every stage after it. The tool took 0.14 s less CPU per 1.15 GB from
 * dockerd, and 0.94-1.02 of the time (docs/performance.md). Only what an engine's API
 * answers is read: a status line, headers, a body chunked, of a Content-Length, or to the
 * close.
 */
import type { Socket } from "bun";
import { BadChunking, Dechunker } from "./dechunk.ts";

export interface BodyReader {
  /** The body's next bytes, each a view of all of its buffer; throws where the answer ends before its body does. */
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
  /** Closes the connection; a read waiting ends. */
  cancel(): void;
}

export interface SocketAnswer {
  status: number;
  body: BodyReader;
}

/** The answer broke off, or broke HTTP, after its head: the message says which, to follow "ended early: ". */
export class AnswerBroken extends Error {}

/** An engine's head is a few hundred bytes; past this, what answers is not an engine. */
const HEAD_CAP = 64 * 1024;
/** Reading stops while this much waits to be taken: memory is this and one read (up to 512 KiB) at most. */
const QUEUE_CAP = 1024 * 1024;

type Framing = { chunked: Dechunker } | { left: number } | "close";

/**
 * Resolves at the answer's head; undefined where nothing answered there as HTTP (no socket,
 * refused, not ours to open, not HTTP). `signal` ends the request in any phase: before the
 * head the promise rejects with its reason, after it a read does.
 */
export function socketGet(path: string, target: string, signal: AbortSignal): Promise<SocketAnswer | undefined> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    let request = new TextEncoder().encode(
      `GET ${target} HTTP/1.1\r\nHost: engine\r\nUser-Agent: runtime-upload\r\nConnection: close\r\n\r\n`,
    );
    let socket: Socket | undefined;
    let head: Uint8Array | undefined = new Uint8Array(0);
    let framing: Framing = "close";
    const queue: Uint8Array[] = [];
    let queued = 0;
    let paused = false;
    let ended = false;
    /** Whether it failed: `failure` is undefined where nothing answered as HTTP. */
    let failed = false;
    let failure: unknown;
    let wake: (() => void) | undefined;

    const settle = () => {
      signal.removeEventListener("abort", aborted);
      socket?.terminate();
      wake?.();
    };
    const fail = (e: unknown) => {
      if (ended || failed) return;
      failed = true;
      failure = e;
      settle();
      if (head) (signal.aborted ? reject : resolve)(signal.aborted ? signal.reason : undefined);
    };
    const aborted = () => fail(signal.reason);
    signal.addEventListener("abort", aborted, { once: true });

    const finish = () => {
      ended = true;
      settle();
    };
    const hand = (piece: Uint8Array) => {
      if (piece.byteLength === 0) return;
      const whole = wholeView(piece);
      queue.push(whole);
      queued += whole.byteLength;
      if (queued >= QUEUE_CAP && !paused) {
        paused = true;
        socket?.pause();
      }
      wake?.();
    };
    const body = (read: Uint8Array) => {
      if (framing === "close") return hand(read);
      if ("left" in framing) {
        const piece = read.subarray(0, framing.left);
        framing.left -= piece.byteLength;
        hand(piece);
        if (framing.left === 0) finish();
        return;
      }
      try {
        hand(framing.chunked.push(read));
      } catch (e) {
        if (!(e instanceof BadChunking)) throw e;
        return fail(new AnswerBroken(`the engine's answer broke HTTP's chunked coding (${e.message})`));
      }
      if (framing.chunked.done) finish();
    };
    const reader: BodyReader = {
      async read() {
        for (;;) {
          const value = queue.shift();
          if (value) {
            queued -= value.byteLength;
            if (paused && queued < QUEUE_CAP) {
              paused = false;
              socket?.resume();
            }
            return { done: false, value };
          }
          if (failed) throw failure;
          if (ended) return { done: true };
          await new Promise<void>((r) => {
            wake = r;
          });
          wake = undefined;
        }
      },
      cancel: () => fail(new AnswerBroken("the request was cancelled")),
    };
    /** The head's bytes so far, and where they end once they have. */
    const onHead = (read: Uint8Array) => {
      const so = head?.byteLength ? Buffer.concat([head, read]) : read;
      const end = Buffer.from(so.buffer, so.byteOffset, so.byteLength).indexOf("\r\n\r\n");
      if (end < 0 || end > HEAD_CAP) {
        if (so.byteLength > HEAD_CAP) return fail(undefined);
        head = so;
        return;
      }
      const parsed = parseHead(new TextDecoder("latin1").decode(so.subarray(0, end)));
      if (!parsed) return fail(undefined);
      head = undefined;
      framing = parsed.framing;
      resolve({ status: parsed.status, body: reader });
      if (framing !== "close" && "left" in framing && framing.left === 0) return finish();
      body(so.subarray(end + 4));
    };
    const write = (s: Socket) => {
      request = request.subarray(s.write(request));
    };

    Bun.connect({
      unix: path,
      socket: {
        binaryType: "uint8array",
        open(s) {
          socket = s;
          if (failed) return s.terminate();
          write(s);
        },
        drain(s) {
          if (request.byteLength > 0) write(s);
        },
        data(_s, read) {
          if (ended || failed) return;
          if (head) onHead(read);
          else body(read);
        },
        close() {
          if (framing === "close" && !head) finish();
          else fail(head ? undefined : new AnswerBroken("the engine closed its connection mid-export"));
        },
        error() {
          fail(head ? undefined : new AnswerBroken("the engine's connection failed mid-export"));
        },
        connectError() {
          fail(undefined);
        },
      },
    }).catch(() => fail(undefined));
  });
}

/**
 * A head's status and how its body ends, or undefined where it is not an HTTP/1.x answer
 * or says two lengths (RFC 9112 section 6.3).
 */
export function parseHead(text: string): { status: number; framing: Framing } | undefined {
  const [statusLine = "", ...lines] = text.split("\r\n");
  const status = /^HTTP\/1\.[01] ([1-9]\d\d)(?: |$)/.exec(statusLine)?.[1];
  if (!status) return undefined;
  const fields = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    fields.set(name, [...(fields.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  const code = Number(status);
  if (code < 200) return undefined;
  if (code === 204 || code === 304) return { status: code, framing: { left: 0 } };
  const codings = fields.get("transfer-encoding");
  if (codings) {
    const last = codings.join(",").split(",").pop()?.trim().toLowerCase();
    return { status: code, framing: last === "chunked" ? { chunked: new Dechunker() } : "close" };
  }
  const lengths = new Set((fields.get("content-length") ?? []).flatMap((v) => v.split(",").map((s) => s.trim())));
  if (lengths.size === 0) return { status: code, framing: "close" };
  const [length = ""] = lengths;
  if (lengths.size > 1 || !/^\d{1,15}$/.test(length)) return undefined;
  return { status: code, framing: { left: Number(length) } };
}

/**
 * The piece as a view of all of its buffer: only such a chunk is freed the moment it is
 * spent (src/lib/recycle.ts), where a view into a larger buffer waits for a full collection.
 * A read is a buffer of its own, and the body's bytes start it after the first.
 */
function wholeView(piece: Uint8Array): Uint8Array {
  if (piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength) return piece;
  // Uint8Array's slice copies; a Buffer's would be a view again.
  if (piece.byteOffset !== 0) return Uint8Array.prototype.slice.call(piece);
  return new Uint8Array((piece.buffer as ArrayBuffer).transfer(piece.byteLength));
}
