/**
 * The layered context read in one pass: the layers above the base go out as they are, the
 * Dockerfile last; and every way the archive can differ from the plan, or hold a layer a
 * builder would not carry faithfully, fails the pass before the context ends.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { packTar, type TarSpec, tempDir } from "../../test/helpers.ts";
import { dir, file, saveArchiveOf } from "../../test/image-fixture.ts";
import type { Source } from "../source/source.ts";
import { seekEntries } from "../tar/list.ts";
import { tarEntries } from "../tar/read.ts";
import { archiveDocuments } from "./image-archive.ts";
import { type LayeredArchive, layeredContext, NotReusable } from "./layered-context.ts";

const BOTTOM: TarSpec[][] = [
  [dir("etc/"), file("etc/motd", "hello\n")],
  [dir("usr/"), file("usr/tool", "tool\n")],
];
/** A layer as GNU tar writes it (a sparse file, a volume label): shapes tar-stream does not write. */
function gnuLayer(args: string): Buffer {
  const at = tempDir("ru-gnu-layer-");
  const r = Bun.spawnSync(
    ["sh", "-ec", `truncate -s 1M s && printf x | dd of=s bs=1 seek=1048575 conv=notrunc status=none && tar ${args} -cf layer.tar s`],
    {
      cwd: at,
    },
  );
  if (r.exitCode !== 0) throw new Error(String(r.stderr));
  return readFileSync(join(at, "layer.tar"));
}

const TOPS: Record<string, TarSpec[] | Buffer> = {
  plain: [dir("app/"), file("app/main", "v2\n")],
  deleting: [file("etc/.wh.motd", "")],
  opaque: [dir("usr/"), file("usr/.wh..wh..opq", "")],
  "linking down": [{ name: "app-motd", type: "link", linkname: "etc/motd" }],
  sparse: gnuLayer("--sparse --format=posix"),
  labelled: gnuLayer("--format=gnu -V 'a volume label'"),
};
const MB = { tag: "layered:1", config: { Env: ["A=1"] } };

/** The archive of BOTTOM + top in a file, and what a plan made from its documents expects (as if no ONBUILD triggers were told of). */
async function saved(top: TarSpec[] | Buffer, config: object = MB.config) {
  const path = join(tempDir("ru-layered-"), "image.tar");
  writeFileSync(path, await saveArchiveOf([...BOTTOM, top], { ...MB, config }));
  const size = Bun.file(path).size;
  const docs = await archiveDocuments(seekEntries(path, size));
  const source: Source = {
    kind: "file",
    label: `file ${path}`,
    size,
    replayable: true,
    gzipped: false,
    open: () => Bun.file(path).stream(),
  };
  const archive: LayeredArchive = {
    source,
    entries: () => seekEntries(path, size),
    torn: (e) => e,
    expected: { ...(docs.identity as { diffIds: string[]; imageId: string }), triggers: false },
    positions: docs.positions,
  };
  return { path, size, docs, archive };
}

/** The context's entries, name → bytes, in order. */
async function entries(source: Source): Promise<Array<[string, Buffer]>> {
  const out: Array<[string, Buffer]> = [];
  for await (const e of tarEntries(source.open())) {
    const parts: Uint8Array[] = [];
    for (let c = await e.read(); c; c = await e.read()) parts.push(c);
    out.push([e.path, Buffer.concat(parts)]);
  }
  return out;
}

describe("a layered context, in one pass", () => {
  test("sends the layers above the base as the archive holds them, then the Dockerfile", async () => {
    const { archive, docs } = await saved(TOPS.plain as TarSpec[]);
    const context = layeredContext(archive, { from: "reg/base:1", first: 2, end: 3, config: true }, "layered:1");
    const got = await entries(context);
    expect(got.map(([name]) => name)).toEqual(["layer-2.tar", "Dockerfile"]);
    const blob = await packTar((TOPS.plain as TarSpec[]).map((e) => ({ uid: 0, gid: 0, mtime: new Date(1_700_000_000_000), ...e })));
    expect(
      createHash("sha256")
        .update(got[0]?.[1] as Buffer)
        .digest("hex"),
    ).toBe(createHash("sha256").update(blob).digest("hex"));
    const dockerfile = got[1]?.[1].toString() ?? "";
    expect(dockerfile).toStartWith("FROM reg/base:1\n");
    expect(dockerfile).toContain(`ADD layer-2.tar /\nENV "A"="1"\n`);
    const weights = { sent: blob.byteLength, reused: (docs.sizes[0] ?? 0) + (docs.sizes[1] ?? 0) };
    expect(context.layerBytes).toEqual(weights);
    // A retry reads it all again: the same context, the same weights.
    expect(await entries(context)).toEqual(got);
    expect(context.layerBytes).toEqual(weights);
  });

  test("a layer holding a sparse file goes as the archive holds it: the builders' own tar readers expand it", async () => {
    const { archive } = await saved(TOPS.sparse as Buffer);
    const got = await entries(layeredContext(archive, { from: "reg/base:1", first: 2, end: 3, config: true }, "layered:1"));
    expect(got.map(([name]) => name)).toEqual(["layer-2.tar", "Dockerfile"]);
    expect(got[0]?.[1].equals(TOPS.sparse as Buffer)).toBe(true);
  });

  test("a layer of nothing (its end-of-archive blocks alone) goes without an ADD line: ADD would copy it as a file", async () => {
    const { archive } = await saved([]);
    const context = layeredContext(archive, { from: "reg/base:1", first: 1, end: 3, config: true }, "layered:1");
    const dockerfile = String(new Map(await entries(context)).get("Dockerfile"));
    expect(dockerfile).toContain("ADD layer-1.tar /");
    expect(dockerfile).not.toContain("layer-2.tar");
  });

  test("a config with ONBUILD triggers the plan was not told of (podman's inspect omits them) fails the pass before the context ends", async () => {
    const { archive } = await saved(TOPS.plain as TarSpec[], { OnBuild: ["RUN rm -rf /"] });
    const context = layeredContext(archive, { from: "reg/base:1", first: 2, end: 3, config: true }, "layered:1");
    const error = await entries(context).catch((e) => e);
    expect(error).toBeInstanceOf(NotReusable);
    expect(error.message).toContain("ONBUILD triggers that the plan was not made for");
  });

  test("with every layer in the base, reads nothing and sends the Dockerfile alone", async () => {
    const { archive } = await saved(TOPS.plain as TarSpec[]);
    const never: LayeredArchive = {
      ...archive,
      entries: () => {
        throw new Error("the archive was read");
      },
    };
    const got = await entries(layeredContext(never, { from: "reg/whole:1", first: 3, end: 3, config: false }, "layered:1"));
    expect(got.map(([name]) => name)).toEqual(["Dockerfile"]);
  });

  test("a layer folder's json that is not JSON places nothing, and is refused as such, not as a parse error", async () => {
    const { archive, path } = await saved(TOPS.plain as TarSpec[]);
    const specs: TarSpec[] = [];
    for await (const e of tarEntries(Bun.file(path).stream())) {
      const parts: Uint8Array[] = [];
      for (let c = await e.read(); c; c = await e.read()) parts.push(c);
      specs.push(e.type === "5" ? dir(e.path) : file(e.path, Buffer.concat(parts)));
      if (e.type === "5") specs.push(file(`${e.path.replace(/\/$/, "")}/json`, "{ not json"));
    }
    const broken = await packTar(specs);
    const stream: LayeredArchive = { ...archive, positions: undefined, entries: () => tarEntries(new Blob([broken]).stream()) };
    const context = layeredContext(stream, { from: "reg/base:1", first: 2, end: 3, config: true }, "layered:1");
    const error = await entries(context).catch((e) => e);
    expect(error).toBeInstanceOf(NotReusable);
    expect(String(error.message)).toContain("layer 2 was not found");
  });

  const refusals: Array<[string, keyof typeof TOPS, (a: LayeredArchive) => LayeredArchive, string]> = [
    [
      "another image than planned",
      "plain",
      (a) => ({ ...a, expected: { ...a.expected, imageId: "0".repeat(64) } }),
      "its image ID differs",
    ],
    [
      "a layer placed where the manifest does not put it",
      "plain",
      (a) => ({ ...a, positions: new Map([...(a.positions ?? [])].map(([name, pos]) => [name, pos === 2 ? 1 : pos === 1 ? 2 : pos])) }),
      "layer 2 was not found",
    ],
    ["a stream whose layers cannot be placed as they pass", "plain", (a) => ({ ...a, positions: undefined }), "layer 2 was not found"],
    ["a top layer that deletes a file", "deleting", (a) => a, "layer 2 deletes files of lower layers"],
    [
      "a top layer holding a volume label (the classic builder's ADD fails on one)",
      "labelled",
      (a) => a,
      "layer 2 holds entries that are not files",
    ],
    ["a top layer that makes a folder opaque", "opaque", (a) => a, "layer 2 deletes files of lower layers"],
    [
      "a top layer with a hard link to a lower layer's file",
      "linking down",
      (a) => a,
      "layer 2 holds a hard link to a file of a lower layer",
    ],
  ];
  test.each(refusals)("refuses %s before the context ends", async (_what, top, change, why) => {
    const { archive } = await saved(TOPS[top] as TarSpec[] | Buffer);
    const context = layeredContext(change(archive), { from: "reg/base:1", first: 2, end: 3, config: true }, "layered:1");
    const names: string[] = [];
    const error = await (async () => {
      for await (const e of tarEntries(context.open())) names.push(e.path);
    })().catch((e) => e);
    expect(error).toBeInstanceOf(NotReusable);
    expect(String(error.message)).toContain(why);
    expect(names).not.toContain("Dockerfile");
  });
});
