import { describe, expect, test } from "bun:test";
import { imageInfo } from "./engine.ts";

const hex = (c: string) => c.repeat(64);
const LAYERS = [`sha256:${hex("a")}`, `sha256:${hex("b")}`];
const base = { Size: 1000, Os: "linux", Architecture: "amd64", RootFS: { Type: "layers", Layers: LAYERS }, Config: {} };

describe("what an engine's inspect says of an image", () => {
  // Only the classic store and podman name an image by its config: there the ID is a content name for reuse.
  test.each([
    ["dockerd's classic store", { ...base, Id: `sha256:${hex("c")}` }, { configId: `sha256:${hex("c")}`, index: false }],
    ["podman (an ID without its algorithm)", { ...base, Id: hex("c") }, { configId: hex("c"), index: false }],
    [
      "Docker's containerd store, a manifest",
      {
        ...base,
        Id: `sha256:${hex("d")}`,
        Descriptor: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${hex("d")}`, size: 500 },
      },
      { configId: undefined, index: false },
    ],
    [
      "Docker's containerd store, an index",
      {
        ...base,
        Id: `sha256:${hex("e")}`,
        Descriptor: { mediaType: "application/vnd.oci.image.index.v1+json", digest: `sha256:${hex("e")}`, size: 900 },
      },
      { configId: undefined, index: true },
    ],
  ])("%s", (_engine, doc, want) => {
    const info = imageInfo([doc]);
    expect({ configId: info.configId, index: info.index }).toEqual(want);
    expect(info.id).toBe(doc.Id);
    expect(info.diffIds).toEqual(LAYERS);
    expect(info.platform).toBe("linux/amd64");
  });

  test("an ID or layers that are not digests are unknown, not trusted", () => {
    const info = imageInfo({ ...base, Id: "sha256:nothex", RootFS: { Layers: ["sha256:short"] } });
    expect(info).toMatchObject({ id: undefined, configId: undefined, diffIds: undefined });
  });
});
