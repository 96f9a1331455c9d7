/**
 * Hostile local inputs for the hostile table: each a few KB (or a sparse file) that once
 * cost gigabytes, hung, or ended as an unexpected failure. Written by hand here: tar-stream
 * cannot lie about a size, and an OCI index that names itself cannot be content-addressed.
 */
import { mkdirSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { packTar } from "./helpers.ts";
import { forgeLayer, saveArchiveOf } from "./image-fixture.ts";

const sha = (b: string | Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
const INDEX = "application/vnd.oci.image.index.v1+json";
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
/** A digest no content has: a nested index that names itself. */
const SELF = `sha256:${"a".repeat(64)}`;

/** One ustar header block that says what we want it to, true or not; sizes of 8 GiB and up in base-256. */
function rawHeader(name: string, type: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "latin1");
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  if (size < 8 ** 11) h.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  else {
    h[124] = 0x80;
    for (let i = 135, n = size; i > 124; i--, n = Math.floor(n / 256)) h[i] = n % 256;
  }
  h.write("00000000000\0", 136);
  h.write(type, 156);
  h.write("ustar\x0000", 257);
  h.fill(32, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}

/** An OCI layout folder: oci-layout, index.json (unless `index` is false) and blobs/sha256. */
function layout(root: string, index: unknown | false): string {
  mkdirSync(join(root, "blobs", "sha256"), { recursive: true });
  writeFileSync(join(root, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  if (index !== false) writeFileSync(join(root, "index.json"), JSON.stringify(index));
  return root;
}

const blob = (root: string, digest: string) => join(root, "blobs", ...digest.split(":"));

/** A real, empty image: its config and manifest written into `root`; the manifest's descriptor. */
function emptyImage(root: string): { mediaType: string; digest: string; size: number } {
  const config = JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: [] } });
  writeFileSync(blob(root, `sha256:${sha(config)}`), config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${sha(config)}`, size: config.length },
    layers: [],
  });
  writeFileSync(blob(root, `sha256:${sha(manifest)}`), manifest);
  return { mediaType: MANIFEST, digest: `sha256:${sha(manifest)}`, size: manifest.length };
}

/** What each metadata typeflag's header claims: from 1 to 8 GiB. */
export const METADATA_SIZES = { x: 2 * 1024 ** 3, g: 8 * 1024 ** 3, L: 1024 ** 3, K: 4 * 1024 ** 3 } as const;

export interface HostileInputs {
  /** index.json names a nested index N times; it names itself N times and one manifest N times. */
  fanOut: string;
  fifoIndex: string;
  zeroIndex: string;
  fifoNested: string;
  hugeNested: string;
  /** A valid layout beside a stray file and a FIFO that no index reaches. */
  strays: string;
  /** Tar files whose first header is metadata claiming this many bytes, by typeflag. */
  metadata: Record<keyof typeof METADATA_SIZES, { path: string; size: number }>;
  /** A gzip'd archive of 40 JSON-looking entries of 8 MiB each (about 0.3 MB on disk). */
  manyDocuments: string;
  /** docker save archives for --context dockerfile: four 600 KB paths; one layer named 100,000 times. */
  deepPath: string;
  layerNamedOften: string;
  paxUid: string;
  paxMtime: string;
  /** docker save whose one layer holds a sparse file of 1 PiB, all of it holes. */
  sparseBomb: string;
  /** gzip'd docker save: 1,000 tiny layers, four of whose folders hold a 7 MB json (--context dockerfile, reuse). */
  manyLayerJsons: string;
  /** docker save whose top layer.tar is there twice, another tar first. */
  layerTwice: string;
}

export async function writeHostileInputs(dir: string): Promise<HostileInputs> {
  const n = 350;
  const fanOut = layout(join(dir, "fan-out"), false);
  const image = emptyImage(fanOut);
  const nested = { mediaType: INDEX, digest: SELF, size: 0 };
  writeFileSync(blob(fanOut, SELF), JSON.stringify({ schemaVersion: 2, manifests: [...Array(n).fill(nested), ...Array(n).fill(image)] }));
  writeFileSync(join(fanOut, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: Array(n).fill(nested) }));

  const fifoIndex = layout(join(dir, "fifo-index"), false);
  Bun.spawnSync(["mkfifo", join(fifoIndex, "index.json")]);
  const zeroIndex = layout(join(dir, "zero-index"), false);
  symlinkSync("/dev/zero", join(zeroIndex, "index.json"));
  const fifoNested = layout(join(dir, "fifo-nested"), { schemaVersion: 2, manifests: [nested] });
  Bun.spawnSync(["mkfifo", blob(fifoNested, SELF)]);
  const hugeNested = layout(join(dir, "huge-nested"), { schemaVersion: 2, manifests: [nested] });
  writeFileSync(blob(hugeNested, SELF), "{");
  truncateSync(blob(hugeNested, SELF), 1024 ** 3);

  const strays = layout(join(dir, "strays"), false);
  writeFileSync(join(strays, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [emptyImage(strays)] }));
  writeFileSync(join(strays, "notes.txt"), "not part of the layout\n");
  Bun.spawnSync(["mkfifo", blob(strays, `sha256:${"b".repeat(64)}`)]);

  const metadata = {} as HostileInputs["metadata"];
  for (const [type, size] of Object.entries(METADATA_SIZES) as Array<[keyof typeof METADATA_SIZES, number]>) {
    const path = join(dir, `metadata-${type}.tar`);
    writeFileSync(path, Buffer.concat([rawHeader("././@LongLink", type, size), Buffer.alloc(1024, 0x41)]));
    metadata[type] = { path, size };
  }

  const manyDocuments = join(dir, "many-documents.tar.gz");
  const doc = Buffer.alloc(8 * 1024 * 1024, 0x20);
  doc[0] = 0x7b;
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) parts.push(Bun.gzipSync(Buffer.concat([rawHeader(`${i}.json`, "0", doc.byteLength), doc]), { level: 1 }));
  parts.push(Bun.gzipSync(Buffer.alloc(1024)));
  writeFileSync(manyDocuments, Buffer.concat(parts));

  const deepPath = join(dir, "deep-path.tar");
  const deep = "a/".repeat(300_000);
  writeFileSync(deepPath, await saveArchiveOf([[1, 2, 3, 4].map((i) => ({ name: `${deep}f${i}`, body: "deep\n" }))]));
  const layerNamedOften = join(dir, "layer-named-often.tar");
  writeFileSync(
    layerNamedOften,
    await saveArchiveOf([[{ name: "f", body: "once\n" }]], { manifestLayers: ([l]) => Array(100_000).fill(l) }),
  );
  const paxUid = join(dir, "pax-uid.tar");
  writeFileSync(paxUid, await saveArchiveOf([[{ name: "f", body: "x\n", pax: { uid: "abc" } }]]));
  const paxMtime = join(dir, "pax-mtime.tar");
  writeFileSync(paxMtime, await saveArchiveOf([[{ name: "f", body: "x\n", pax: { mtime: "1e400" } }]]));

  // GNU sparse 0.1 with no data at all: a petabyte of holes in a few KB.
  const sparseBomb = join(dir, "sparse-bomb.tar");
  const petabyte = { "GNU.sparse.major": "0", "GNU.sparse.minor": "1", "GNU.sparse.size": String(1024 ** 5) };
  writeFileSync(
    sparseBomb,
    await saveArchiveOf([[{ name: "f", body: "", pax: { ...petabyte, "GNU.sparse.numblocks": "0", "GNU.sparse.map": "" } }]]),
  );

  const manyLayerJsons = join(dir, "many-layer-jsons.tar.gz");
  const bulky = (e: { name: string }) => {
    const id = e.name.slice(0, 64);
    return { name: `${id}/json`, body: JSON.stringify({ id, parent: "0".repeat(64), zzz: "x".repeat(7_000_000) }) };
  };
  const tiny = Array.from({ length: 1000 }, (_, i) => [{ name: "f", body: `${i}\n` }]);
  const withJsons = (entries: Array<{ name: string }>) =>
    entries.flatMap((e, i) => (i < 8 && e.name.endsWith("/layer.tar") ? [bulky(e), e] : [e]));
  writeFileSync(manyLayerJsons, Bun.gzipSync(new Uint8Array(await saveArchiveOf(tiny, { entries: withJsons }))));
  const layerTwice = join(dir, "layer-twice.tar");
  const layers = [[{ name: "f", body: "real 0\n" }], [{ name: "g", body: "real 1\n" }]];
  writeFileSync(
    layerTwice,
    await saveArchiveOf(layers, { entries: forgeLayer(1, await packTar([{ name: "g", body: "forged\n" }]), true) }),
  );

  return {
    manyLayerJsons,
    layerTwice,
    fanOut,
    fifoIndex,
    zeroIndex,
    fifoNested,
    hugeNested,
    strays,
    metadata,
    manyDocuments,
    deepPath,
    layerNamedOften,
    paxUid,
    paxMtime,
    sparseBomb,
  };
}
