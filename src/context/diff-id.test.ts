/**
 * An archive can lie: a layer's bytes are checked against the diff ID its config names it
 * by, in every pass that builds something from them, before the context they go in can end.
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { packTar, type TarSpec, tempDir } from "../../test/helpers.ts";
import { dir, file, forgeLayer, saveArchiveOf } from "../../test/image-fixture.ts";
import { UploadError } from "../errors.ts";
import { fromIterable } from "../lib/streams.ts";
import type { Source } from "../source/source.ts";
import { seekEntries } from "../tar/list.ts";
import { tarEntries } from "../tar/read.ts";
import { flattenedContext, readImage } from "./build-context.ts";
import { hashedWhole } from "./diff-id.ts";
import { archiveDocuments } from "./image-archive.ts";
import { layeredContext, NotReusable } from "./layered-context.ts";

const LAYERS: TarSpec[][] = [
  [dir("etc/"), file("etc/motd", "hello\n")],
  [dir("usr/"), file("usr/tool", "tool\n")],
  [dir("app/"), file("app/main", "v2\n")],
];
const FORGED = packTar([dir("etc/"), file("etc/motd", "forged\n")]);

function fileSource(path: string): Source {
  return {
    kind: "file",
    label: `file ${path}`,
    size: Bun.file(path).size,
    replayable: true,
    gzipped: false,
    open: () => Bun.file(path).stream(),
  };
}

async function archive(o: Parameters<typeof saveArchiveOf>[1] = {}): Promise<string> {
  const path = join(tempDir("ru-diff-id-"), "image.tar");
  writeFileSync(path, await saveArchiveOf(LAYERS, { tag: "forged:1", ...o }));
  return path;
}

/** Reads a context to its end, or to the error that stops it. */
async function drain(source: Source): Promise<unknown> {
  try {
    for await (const _ of tarEntries(source.open()));
    return undefined;
  } catch (error) {
    return error;
  }
}

describe("a layer's bytes against its diff ID", () => {
  test("the digest covers what follows the end-of-archive marker, though the tar reader stops there", async () => {
    const tar = Buffer.concat([await packTar([file("a", "a\n")]), Buffer.alloc(8192)]);
    const whole = hashedWhole(
      fromIterable(
        (async function* () {
          yield tar.subarray(0, 700);
          yield tar.subarray(700);
        })(),
      ),
    );
    let entries = 0;
    for await (const _ of tarEntries(whole.stream)) entries++;
    expect(entries).toBe(1);
    expect(await whole.digest).toBe(new Bun.CryptoHasher("sha256").update(tar).digest("hex"));
  });

  const passes: Array<[string, (path: string) => Promise<Source>]> = [
    [
      "the flattened pass that sends it (the first pass only plans)",
      async (path) => flattenedContext(await readImage(fileSource(path), AbortSignal.timeout(10_000)), "forged:1"),
    ],
    [
      "the flattened second pass, when the archive changed after the first",
      async (path) => {
        const honest = `${path}.honest`;
        writeFileSync(honest, await saveArchiveOf(LAYERS, { tag: "forged:1" }));
        const forged = `${path}.forged`;
        copyFileSync(path, forged);
        copyFileSync(honest, path);
        const read = await readImage(fileSource(path), AbortSignal.timeout(10_000));
        copyFileSync(forged, path);
        return flattenedContext(read, "forged:1");
      },
    ],
    [
      "the layered pass, where the forged layer is one of those sent",
      async (path) => {
        const size = Bun.file(path).size;
        const docs = await archiveDocuments(seekEntries(path, size));
        const expected = { ...(docs.identity as { diffIds: string[]; imageId: string }), triggers: false };
        const source = fileSource(path);
        const entries = () => seekEntries(path, size);
        return layeredContext(
          { source, entries, torn: (e) => e, expected, positions: docs.positions },
          { from: "reg/base:1", first: 0, end: 3, config: true },
          "forged:1",
        );
      },
    ],
  ];
  test.each(passes)("a forged bottom layer under its real diff ID is refused in %s: the context never ends", async (_what, open) => {
    const path = await archive({ entries: forgeLayer(0, await FORGED) });
    const error = await open(path).then(drain, (e) => e);
    expect(error).toBeInstanceOf(UploadError);
    expect(error).not.toBeInstanceOf(NotReusable);
    expect(String((error as Error).message)).toContain("layer 0 does not match its diff ID");
  });

  test("an archive that holds a layer twice is refused by every reader, whichever copy is real", async () => {
    const path = await archive({ entries: forgeLayer(1, await FORGED, true) });
    const size = Bun.file(path).size;
    for (const read of [() => archiveDocuments(seekEntries(path, size)), () => readImage(fileSource(path), AbortSignal.timeout(10_000))]) {
      const error = await read().catch((e) => e);
      expect(error).toBeInstanceOf(UploadError);
      expect(String(error.message)).toMatch(/holds [0-9a-f]{64}\/layer\.tar twice/);
    }
  });
});
