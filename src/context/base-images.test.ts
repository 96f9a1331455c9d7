/** Bases named by content, and where a new base ends. */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { baseName, chainIds, cutsOf, wholeName } from "./base-images.ts";

const id = (c: string) => `sha256:${c.repeat(64)}`;

describe("chain IDs and names", () => {
  test("the OCI rule: the first diff ID, then sha256 of 'previous next' upward", () => {
    const [a, b, c] = [id("a"), id("b"), id("c")];
    const ab = `sha256:${createHash("sha256").update(`${a} ${b}`).digest("hex")}`;
    const abc = `sha256:${createHash("sha256").update(`${ab} ${c}`).digest("hex")}`;
    expect(chainIds([a, b, c])).toEqual([a, ab, abc]);
    expect(chainIds([])).toEqual([]);
  });

  test("a change in a lower layer changes every chain ID above it, and none below", () => {
    const one = chainIds([id("a"), id("b"), id("c")]);
    const two = chainIds([id("a"), id("e"), id("c")]);
    expect([one[0] === two[0], one[1] === two[1], one[2] === two[2]]).toEqual([true, false, false]);
  });

  test("names live under the prefix, tagged by the digest's hex", () => {
    expect(baseName("reg:5000/team/", id("a"))).toBe(`reg:5000/team/runtime-upload-layers:${"a".repeat(64)}`);
    expect(wholeName("reg:5000/team", id("b"))).toBe(`reg:5000/team/runtime-upload-images:${"b".repeat(64)}`);
  });
});

describe("where the bases end that an upload builds", () => {
  const at = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 12, minutes)).toISOString();
  test.each([
    ["below the layers made in the top layer's build, and below the top layer", [at(0), at(0), at(58), at(59), at(60)], 0, [2, 4]],
    ["above a base found at the first of them: below the top layer alone", [at(0), at(0), at(58), at(59), at(60)], 2, [4]],
    ["none where the base found is below the top layer", [at(0), at(0), at(58), at(59), at(60)], 4, []],
    ["below the top layer where all were made in one build", [at(0), at(1), at(2)], 0, [2]],
    ["below the top layer where the history says nothing", [undefined, undefined, undefined], 0, [2]],
    ["at the one layer below a two-layer image", [at(0), at(60)], 0, [1]],
    ["where a layer of unknown time stops the walk down", [at(0), undefined, at(59), at(60)], 0, [2, 3]],
    ["none for an image of one layer", [at(0)], 0, []],
  ] as const)("%s", (_what, created, found, cuts) => {
    expect(cutsOf(created, found)).toEqual([...cuts]);
  });
});
