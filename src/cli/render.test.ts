import { expect, test } from "bun:test";
import { levelsText } from "./render.ts";

test.each([
  ["one level (a fixed one) is not said", [[6, 100]], undefined],
  [
    "the range, and where most of the image was read",
    [
      [1, 700],
      [3, 100],
      [2, 200],
    ],
    "levels 1–3, mostly 1",
  ],
  [
    "mostly the top one",
    [
      [8, 900],
      [0, 10],
    ],
    "levels 0–8, mostly 8",
  ],
] as const)("the summary's levels: %s", (_what, used, text) => {
  const levels = new Map(used.map(([level, read]) => [level, { read, sent: read / 2 }]));
  expect(levelsText(levels)).toBe(text);
});
