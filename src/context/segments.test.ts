/** How the layers above a base are sent, a segment per build: as they are, or flattened after what they delete. */
import { describe, expect, test } from "bun:test";
import type { ImageArchive } from "./image-archive.ts";
import { NotReusable } from "./layered-context.ts";
import { DIR, FILE, type LayerIndex, LINK, layerNotes, OPAQUE, WHITEOUT } from "./layers.ts";
import { planSegments, type Segment } from "./segments.ts";

type Entry = [string, number] | [string, typeof LINK, string];

function layer(entries: Entry[]): LayerIndex {
  const l: LayerIndex = { paths: [], kinds: [], sizes: [], links: new Map() };
  for (const [path, kind, target] of entries) {
    if (kind === LINK) l.links.set(l.paths.length, target as string);
    l.paths.push(path);
    l.kinds.push(kind);
    l.sizes.push(0);
  }
  return l;
}

function archive(layers: Entry[][]): ImageArchive {
  const names = layers.map((_, i) => `l${i}/layer.tar`);
  return {
    layers: names,
    index: new Map(names.map((n, i) => [n, layer(layers[i] as Entry[])])),
    config: {},
    notes: layerNotes(),
    layerBytes: new Map(),
  };
}

const OS: Entry[] = [
  ["bin", DIR],
  ["bin/sh", FILE],
  ["bin/rm", FILE],
  ["etc", DIR],
  ["etc/os-release", FILE],
];
const MERGED_USR: Entry[] = [
  ["usr", DIR],
  ["usr/bin", DIR],
  ["usr/bin/rm", FILE],
  ["etc", DIR],
  ["etc/os-release", FILE],
];
const INSTALL: Entry[] = [
  ["opt", DIR],
  ["opt/tool", DIR],
  ["opt/tool/a", FILE],
  ["opt/cache", DIR],
  ["opt/cache/x", FILE],
];
/** Deletes what INSTALL put there, and a file and a folder of the OS layer. */
const CLEAN_UP: Entry[] = [
  ["opt/cache", WHITEOUT],
  ["etc/os-release", WHITEOUT],
  ["opt/tool", OPAQUE],
  ["bin", OPAQUE],
];
const APP: Entry[] = [
  ["app", DIR],
  ["app/main", FILE],
];

const shape = (segments: Segment[]): unknown[] => segments.map((s) => [s.first, s.end, s.how, s.removals, s.rm ?? null]);

describe("segments", () => {
  test.each([
    [
      "on a base found below faithful layers, each goes as it is",
      [OS, INSTALL, APP],
      1,
      [2],
      [
        [1, 2, "layers", [], null],
        [2, 3, "layers", [], null],
      ],
    ],
    [
      "on scratch, the bottom run is flattened",
      [OS, INSTALL, APP],
      0,
      [2],
      [
        [0, 2, "flattened", [], null],
        [2, 3, "layers", [], null],
      ],
    ],
    [
      "a clean-up layer: flattened with what it installed, after deleting from the base what it holds (the base's rm)",
      [OS, INSTALL, CLEAN_UP, APP],
      1,
      [3],
      [
        [1, 3, "flattened", ["/bin", "/etc/os-release"], "/bin/rm"],
        [3, 4, "layers", [], null],
      ],
    ],
    [
      "what it deletes of its own segment alone needs no rm step",
      [OS, INSTALL, [["opt/cache", WHITEOUT] as Entry], APP],
      1,
      [3],
      [
        [1, 3, "flattened", [], null],
        [3, 4, "layers", [], null],
      ],
    ],
    [
      "a merged-/usr base runs /usr/bin/rm",
      [MERGED_USR, [["etc/os-release", WHITEOUT] as Entry]],
      1,
      [],
      [[1, 2, "flattened", ["/etc/os-release"], "/usr/bin/rm"]],
    ],
    [
      "what every builder mounts over in a RUN step (/etc/hosts, hostname, resolv.conf) is left out of the rm; the rest deleted",
      [
        [...OS, ["etc/hosts", FILE], ["etc/hostname", FILE], ["etc/resolv.conf", FILE]] as Entry[],
        [
          ["etc/hosts", WHITEOUT],
          ["etc/hostname", WHITEOUT],
          ["etc/resolv.conf", WHITEOUT],
          ["etc/os-release", WHITEOUT],
        ] as Entry[],
      ],
      1,
      [],
      [[1, 2, "flattened", ["/etc/os-release"], "/bin/rm"]],
    ],
    [
      "a deletion of those alone needs no rm at all",
      [[...OS, ["etc/hosts", FILE]] as Entry[], [["etc/hosts", WHITEOUT]] as Entry[]],
      1,
      [],
      [[1, 2, "flattened", [], null]],
    ],
    [
      "a deleted path with a line break is deleted like any other (exec-form JSON carries it)",
      [[...OS, ["data", DIR], ["data/new\nline", FILE]] as Entry[], [["data/new\nline", WHITEOUT]] as Entry[]],
      1,
      [],
      [[1, 2, "flattened", ["/data/new\nline"], "/bin/rm"]],
    ],
    [
      "a hard link within the segment is flattened with its target",
      [
        OS,
        INSTALL,
        [
          ["opt/tool/b", FILE],
          ["opt/tool/b-link", LINK, "opt/tool/b"],
          ["opt/cache", WHITEOUT],
        ] as Entry[],
      ],
      1,
      [],
      [[1, 3, "flattened", [], null]],
    ],
  ] as const)("%s", (_what, layers, found, cuts, want) => {
    expect(shape(planSegments(archive(layers as unknown as Entry[][]), found, cuts))).toEqual(want as unknown as unknown[]);
  });

  test("the mounted paths left out are named, for the plan to say so", () => {
    const image = archive([[...OS, ["etc/hosts", FILE]], [["etc/hosts", WHITEOUT]]]);
    expect(planSegments(image, 1, [])[0]?.mounted).toEqual(["/etc/hosts"]);
  });

  test("a layer holding an entry that is no file (a volume label) is flattened, which leaves the entry out: ADD would refuse it", () => {
    const image = archive([OS, INSTALL, APP]);
    const app = image.index.get("l2/layer.tar") as LayerIndex;
    image.index.set("l2/layer.tar", { ...app, leftOut: 'label (type "V")' });
    expect(shape(planSegments(image, 1, [2]))).toEqual([
      [1, 2, "layers", [], null],
      [2, 3, "flattened", [], null],
    ]);
  });

  test.each([
    [
      "a deletion from a base that holds no rm",
      [
        [
          ["etc", DIR],
          ["etc/motd", FILE],
        ] as Entry[],
        [["etc/motd", WHITEOUT]] as Entry[],
      ],
      "layer 1 deletes files of lower layers, which only a step run in the image deletes on every builder, and the layers below it hold no rm",
    ],
    [
      "a base whose rm a later layer deleted",
      [OS, [["bin/rm", WHITEOUT]] as Entry[], [["etc/os-release", WHITEOUT]] as Entry[]],
      "the layers below it hold no rm",
    ],
    [
      "a hard link to a file below the segment",
      [
        OS,
        [
          ["bin/sh-link", LINK, "bin/sh"],
          ["etc/os-release", WHITEOUT],
        ] as Entry[],
      ],
      "holds a hard link to a file of a lower layer",
    ],
    ["a deleted path that is not UTF-8", [[...OS, ["caf\xe9", FILE]] as Entry[], [["caf\xe9", WHITEOUT]] as Entry[]], "is not UTF-8"],
  ] as const)("refused: %s", (_what, layers, why) => {
    const found = layers.length - 1;
    const error = (() => {
      try {
        planSegments(archive(layers as unknown as Entry[][]), found, []);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(NotReusable);
    expect(String((error as Error).message)).toContain(why);
  });
});
