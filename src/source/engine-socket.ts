/**
 * The engine's save read from its own socket (`GET /images/get`, what `docker save` asks
 * for), not through a docker CLI that copies every byte through a pipe to us: that CLI
 * held 17 to 22 MiB at the upload's peak (its 0.9 s of CPU for the 1.15 GB sample moved
 * into the socket's read). Used only where the CLI itself would talk to a socket on
 * this machine; the caller takes the CLI's own way for anything else, or where the socket
 * does not answer.
 */
import { errorDetail, readCapped } from "../api/http.ts";
import { jsonObject } from "../lib/document.ts";
import { pullStream } from "../lib/streams.ts";
import { type BodyReader, socketGet } from "./socket-get.ts";

/** An engine's error answer is a line of JSON; anything longer is cut, as it is only shown. */
const ERROR_CAP = 64 * 1024;
const ERROR_DEADLINE_MS = 10_000;

export type SocketSave =
  /** The export, streamed as the engine writes it. */
  | { body: BodyReader }
  /** The engine refused: its status and what it said. */
  | { status: number; message: string }
  /** Nothing answered there (refused, missing, not ours to open): try the CLI. */
  | undefined;

/** `host`: the engine's unix:// address, as the CLI resolves it. `abort` ends the request, whatever its phase. */
export async function socketSave(host: string, image: string, abort: AbortSignal): Promise<SocketSave> {
  // No idle deadline: dockerd 20.10 answers only once it has written its whole export (minutes for a large image), as the CLI waits.
  const answer = await socketGet(host.slice("unix://".length), `/images/get?names=${encodeURIComponent(image)}`, abort);
  if (!answer) return undefined;
  const { status, body } = answer;
  if (status === 200) return { body };
  const text = pullStream({ next: async () => (await body.read()).value, release: () => body.cancel() });
  const deadline = AbortSignal.any([abort, AbortSignal.timeout(ERROR_DEADLINE_MS)]);
  const said = await readCapped(new Response(text, { status }), ERROR_CAP, host, deadline, true).catch(() => "");
  return { status, message: errorDetail(said, "message") };
}

/**
 * The error an engine wrote into an export it had begun to send: once dockerd has flushed,
 * it can only append `{"errorDetail":{"message":…},"error":…}\r\n` to the stream (and the
 * docker CLI copies that to its output, exiting 0). Its message, where the stream's last
 * bytes are that; else undefined.
 */
export function errorInExport(tail: Uint8Array): string | undefined {
  const text = new TextDecoder().decode(tail);
  const at = text.lastIndexOf('{"errorDetail"');
  if (at < 0 || !text.endsWith("}\r\n")) return undefined;
  const said = jsonObject(text.slice(at))?.error;
  return typeof said === "string" && said !== "" ? said.slice(0, 500) : undefined;
}
