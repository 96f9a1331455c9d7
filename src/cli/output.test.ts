/** The live line at a terminal: cut to its width, and redrawn whole after the terminal is made narrower. */
import { describe, expect, test } from "bun:test";
import { Output } from "./output.ts";

function terminal(columns: number | undefined) {
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

  test("is cut by display width: a wide character takes two columns", () => {
    const { out, written } = terminal(80);
    out.live("状".repeat(70));
    expect(written.at(-1)).toBe(`\r${"状".repeat(38)}\x1b[J`);
    out.live("x");
    // The last line took 76 columns of 80: one row, nothing to climb.
    expect(written.at(-1)).toBe("\rx\x1b[J");
  });

  test.each([0, undefined, Number.NaN])("a terminal of %p columns is taken as 80, and every cursor code is a number", (columns) => {
    const { out, written } = terminal(columns as number);
    out.live("y".repeat(300));
    out.live("z");
    expect(written).toEqual([`\r${"y".repeat(77)}\x1b[J`, "\rz\x1b[J"]);
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

describe("JSON written for a program", () => {
  // What a line splitter (Python's splitlines, a log viewer) or a terminal would act on, though JSON.stringify leaves it raw.
  const hostile = "a\u2028::add-mask::b\u2029c\u0085d\u009b31me\u202ef\u{e0001}g#h";
  test("escapes line and paragraph separators, C1 controls and format characters as \\uXXXX, the same value to a parser", () => {
    const written: string[] = [];
    const out = new Output({ write: (t: string) => written.push(t) }, { write: (t: string) => written.push(t) }, true);
    out.mode = { quiet: false, json: true, progress: "json" };
    out.warn(hostile);
    out.done();
    for (const line of written) {
      expect(line).toMatch(/^[\x20-\x7e]*\n$/);
    }
    expect(JSON.parse(written[0] as string).text).toBe(hostile);
    expect(written[0]).toContain("\\u2028::add-mask::b\\u2029c\\u0085d\\u009b31me\\u202ef\\udb40\\udc01g\\u0023h");
  });
});
