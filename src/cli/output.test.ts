/** The live line at a terminal: cut to its width, and redrawn whole after the terminal is made narrower. */
import { describe, expect, test } from "bun:test";
import { Output } from "./output.ts";

function terminal(columns: number) {
  const written: string[] = [];
  const err = { isTTY: true, columns, write: (t: string) => written.push(t) };
  return { out: new Output(err, { write: () => {} }, true), err, written };
}

describe("the live line", () => {
  test("is cut to the terminal's width, with room for an echoed ^C, so it never wraps", () => {
    const { out, written } = terminal(80);
    out.live("x".repeat(200));
    expect(written.at(-1)).toBe(`\r${"x".repeat(77)}\x1b[J`);
  });

  test.each([
    ["narrower, the earlier line now wrapped in two rows: up one row first", 120, 60, "\r\x1b[1A"],
    ["narrower still: up two rows", 120, 40, "\r\x1b[2A"],
    ["wider: the line is where it was", 60, 120, "\r"],
  ] as const)("after the terminal is made %s", (_what, from, to, start) => {
    const { out, err, written } = terminal(from);
    out.live("y".repeat(300));
    err.columns = to;
    out.live("z".repeat(300));
    expect(written.at(-1)).toBe(`${start}${"z".repeat(to - 3)}\x1b[J`);
  });

  test("--progress plain draws no live line at a terminal; json writes events alone", () => {
    const { out, written } = terminal(80);
    out.mode = { quiet: false, json: false, progress: "plain" };
    out.live("x");
    expect(written).toEqual([]);
    out.mode = { quiet: false, json: false, progress: "json" };
    // consola keeps info lines out of test runs (NODE_ENV=test): a warning shows the same path.
    out.warn("a warning");
    expect(JSON.parse(written.at(-1) as string)).toMatchObject({ event: "message", level: "warn", text: "a warning" });
  });
});
