import { expect, test } from "bun:test";
import { errorInExport } from "./engine-socket.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const LINE = '{"errorDetail":{"message":"no space left on device"},"error":"no space left on device"}\r\n';

test.each([
  ["the engine's error line, after tar data", `ustar data\0\0\0${LINE}`, "no space left on device"],
  ["the line alone", LINE, "no space left on device"],
  ["tar data that ends as a line does, with no error in it", 'x{"a":1}\r\n', undefined],
  ["an error line with more after it", `${LINE}more`, undefined],
  ["an error line with no message", '{"errorDetail":{},"error":""}\r\n', undefined],
  ["a line cut before its end", '{"errorDetail":{"message":"no sp}\r\n', undefined],
])("%s", (_what, text, said) => {
  expect(errorInExport(bytes(text))).toBe(said);
});
