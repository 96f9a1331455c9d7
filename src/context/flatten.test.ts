/**
 * The flattening plan on layers written by tar-stream (not our code): which layer each
 * surviving path comes from, top layer first, by the rules a container's root filesystem
 * follows: whiteouts, opaque folders, a file over a folder, hard links whose target was
 * replaced above, a path written twice in one layer; and the plan's size bound.
 */
import { describe, expect, test } from "bun:test";
import { packTar, type TarSpec } from "../../test/helpers.ts";
import { planFlatten } from "./flatten.ts";
import type { ImageArchive } from "./image-archive.ts";
import { indexLayer, type LayerIndex, layerNotes } from "./layers.ts";

const file = (name: string, body = "x"): TarSpec => ({ name, body });
const dir = (name: string): TarSpec => ({ name, type: "directory" });
const link = (name: string, target: string): TarSpec => ({ name, type: "link", linkname: target });

async function archiveOf(layers: TarSpec[][]): Promise<ImageArchive> {
  const index = new Map<string, LayerIndex>();
  const notes = layerNotes();
  for (const [i, entries] of layers.entries()) {
    const bytes = await packTar(entries);
    index.set(`l${i}`, await indexLayer(new Blob([bytes]).stream(), notes));
  }
  return { layers: layers.map((_, i) => `l${i}`), index, config: {}, notes, layerBytes: new Map() };
}

/** The plan as "path@layer", sorted. */
const kept = (archive: ImageArchive) => [...planFlatten(archive).keep].map(([p, pos]) => `${p}@${pos}`).sort();

describe("the flattening plan", () => {
  const rows: Array<[string, TarSpec[][], string[]]> = [
    ["a file in a higher layer wins", [[file("a", "old")], [file("a", "new")]], ["a@1"]],
    ["a whiteout hides the path below", [[file("a"), file("b")], [file(".wh.a")]], ["b@0"]],
    [
      "a whiteout of a folder hides all under it, and a later layer can put it back",
      [[dir("d/"), file("d/x"), dir("d/sub/"), file("d/sub/y")], [file(".wh.d")], [dir("d/"), file("d/new")]],
      ["d/new@2", "d@2"],
    ],
    [
      "an opaque folder hides what lower layers put in it, not the folder, not its own",
      [
        [dir("o/"), file("o/old"), file("keep")],
        [dir("o/"), file("o/.wh..wh..opq"), file("o/mine")],
      ],
      ["keep@0", "o/mine@1", "o@1"],
    ],
    ["a file over a folder hides the folder's children", [[dir("s/"), file("s/child")], [file("s")]], ["s@1"]],
    ["a whiteout in the bottom layer hides nothing (there is nothing below)", [[file(".wh.ghost"), file("a")]], ["a@0"]],
    ["a path written twice in one layer counts once", [[file("a", "first"), file("a", "second")]], ["a@0"]],
  ];
  test.each(rows)("%s", async (_what, layers, expected) => {
    expect(kept(await archiveOf(layers))).toEqual(expected);
  });

  test("a hard link whose target a higher layer replaced carries the old data: the first link takes it", async () => {
    const plan = planFlatten(await archiveOf([[file("t", "old data"), link("h1", "t"), link("h2", "t")], [file("t", "new")]]));
    expect([...plan.keep].sort()).toEqual([
      ["h1", 0],
      ["h2", 0],
      ["t", 1],
    ]);
    expect([...plan.renames]).toEqual([["0\0t", "h1"]]);
  });

  test("a path written twice in one layer is remembered as repeated, so the second pass skips the first", async () => {
    const plan = planFlatten(await archiveOf([[file("a", "first"), file("b"), file("a", "second, longer")]]));
    expect([...plan.repeats]).toEqual([["0\0a", 1]]);
    expect(plan.entries).toBe(2);
  });

  test("the size bound is the entries' headers and padded data: 10,001 bytes of data take 20 blocks where 1 byte took 1", async () => {
    const small = planFlatten(await archiveOf([[file("a", "x")]]));
    const large = planFlatten(await archiveOf([[file("a", "x".repeat(10_001))]]));
    expect(large.bytes - small.bytes).toBe(19 * 512);
  });
});
