/** The one pax parser. */
import { TornArchive } from "./walk.ts";

/** pax records: "LEN key=value\n", LEN counting the whole record. The one pax parser. */
export function paxRecords(body: Uint8Array): Map<string, string> {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("latin1");
  const out = new Map<string, string>();
  let at = 0;
  while (at < text.length) {
    const space = text.indexOf(" ", at);
    const len = Number.parseInt(text.slice(at, space), 10);
    if (space < 0 || !(len > 0) || at + len > text.length) throw new TornArchive(`a pax header is malformed near byte ${at}`);
    const record = text.slice(space + 1, at + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}
