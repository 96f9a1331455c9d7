/**
 * The OCI index walk on documents held in memory: each digest read once whatever names it
 * again (a cycle, a fan-out), nested indexes followed to a cap, bad descriptors refused,
 * a platform chosen with its blobs, and what a layout folder sends.
 */
import { describe, expect, test } from "bun:test";
import { UploadError } from "../errors.ts";
import { imageManifests, parsePlatform, platformsOf, reachedBlobs, selectPlatform } from "./oci-index.ts";

const INDEX = "application/vnd.oci.image.index.v1+json";
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const desc = (c: string, mediaType = MANIFEST, more: object = {}) => ({ mediaType, digest: digest(c), size: 1, ...more });
const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** A layout's blobs by digest, and how often each was read. */
function layout(blobs: Record<string, unknown>) {
  const reads = new Map<string, number>();
  const read = (d: string) => {
    reads.set(d, (reads.get(d) ?? 0) + 1);
    const doc = blobs[d];
    if (doc === undefined) throw new Error(`no blob ${d}`);
    return bytes(doc);
  };
  return { read, reads };
}

const image = (config: string, ...layers: string[]) => ({
  schemaVersion: 2,
  config: desc(config, "application/vnd.oci.image.config.v1+json"),
  layers: layers.map((l) => desc(l, "application/vnd.oci.image.layer.v1.tar+gzip")),
});

describe("the OCI index walk", () => {
  test("an index that fans out to a nested index naming itself reads each digest once", () => {
    const nested = desc("a", INDEX);
    const { read, reads } = layout({
      [digest("a")]: { manifests: [...Array(500).fill(nested), ...Array(500).fill(desc("e"))] },
      [digest("e")]: image("c", "1"),
    });
    const index = bytes({ manifests: Array(500).fill(nested) });
    expect(imageManifests(index, read).map((m) => m.desc.digest)).toEqual([digest("e")]);
    expect(reads.get(digest("a"))).toBe(1);
  });

  test.each([
    ["indexes nested deeper than 4", { manifests: [desc("1", INDEX)] }, "indexes nested more than 4 deep"],
    [
      "more than 10,000 descriptors",
      { manifests: Array.from({ length: 10_001 }, (_, i) => desc(i.toString(16).padStart(4, "0").slice(-1))) },
      "more than 10000 manifests",
    ],
    ["a descriptor without a digest", { manifests: [{ mediaType: MANIFEST }] }, "an index entry without a digest"],
    ["a digest that is not one", { manifests: [{ digest: "sha256:../../etc/passwd" }] }, "a digest that is not one"],
    ["an index that is not JSON", "not json", "index.json that is not JSON"],
  ])("%s is refused", (_what, index, message) => {
    // Each nested index names the next: 1 → 2 → 3 → 4 → 5.
    const chain = Object.fromEntries([1, 2, 3, 4, 5].map((n) => [digest(String(n)), { manifests: [desc(String(n + 1), INDEX)] }]));
    const { read } = layout({ ...chain, [digest("6")]: { manifests: [] } });
    const doc = typeof index === "string" ? new TextEncoder().encode(index) : bytes(index);
    const error = (() => {
      try {
        imageManifests(doc, read);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UploadError);
    expect((error as UploadError).message).toContain(message);
  });

  test("a layout folder sends the nested indexes, manifests, configs and layers its index reaches", () => {
    const { read } = layout({
      [digest("f")]: { manifests: [desc("e")] },
      [digest("e")]: image("c", "1", "2"),
    });
    expect([...reachedBlobs(bytes({ manifests: [desc("f", INDEX)] }), read)].sort()).toEqual(
      ["f", "e", "c", "1", "2"].map((c) => `blobs/sha256/${c.repeat(64)}`).sort(),
    );
  });

  test("--platform picks one image's blobs and an index naming only it, the top entry's annotations kept", () => {
    const amd = desc("a", MANIFEST, { platform: { os: "linux", architecture: "amd64" } });
    const arm = desc("b", MANIFEST, { platform: { os: "linux", architecture: "arm64", variant: "v8" } });
    const { read } = layout({
      [digest("f")]: { manifests: [amd, arm] },
      [digest("a")]: image("c", "1"),
      [digest("b")]: image("d", "2"),
    });
    const index = bytes({ manifests: [desc("f", INDEX, { annotations: { "org.opencontainers.image.ref.name": "v1" } })] });
    expect(platformsOf(index, read)).toEqual(["linux/amd64", "linux/arm64/v8"]);
    const only = selectPlatform(index, read, parsePlatform("linux/arm64"), "--input L");
    expect([...only.keep].sort()).toEqual(["b", "d", "2"].map((c) => `blobs/sha256/${c.repeat(64)}`).sort());
    const chosen = JSON.parse(new TextDecoder().decode(only.index)).manifests;
    expect(chosen).toEqual([{ ...arm, annotations: { "org.opencontainers.image.ref.name": "v1" } }]);
    expect(() => selectPlatform(index, read, parsePlatform("linux/s390x"), "--input L")).toThrow(
      "--input L has no image for linux/s390x: it holds linux/amd64, linux/arm64/v8",
    );
  });
});
