/**
 * Layer reuse on a builder server (--context dockerfile, --reuse auto): find the highest
 * base of the image's bottom layers the server's registry has (named by content, asked
 * with /image_exists), or the whole image; where it has none, build a base first, so the
 * next upload finds one. Only the layers above the base are then sent.
 */
import { imageExists } from "../api/client.ts";
import { baseName, chainIds, splitOf, wholeName } from "../context/base-images.ts";
import type { ReadImage } from "../context/build-context.ts";
import type { Layering } from "../context/layered-context.ts";
import { type LayerIndex, OPAQUE, WHITEOUT } from "../context/layers.ts";
import type { JobOptions, Reuse } from "./job.ts";

/** Bases asked for, top down, at most: a deep image need not cost a question per layer. */
const MAX_QUESTIONS = 24;

export type ReusePlan =
  | { kind: "off"; why: string }
  /**
   * Build on `layering.from`; where `seed` is set, build that base first: its bottom layers
   * flattened (deletions in them applied here, whatever the builder does with whiteouts).
   */
  | { kind: "on"; layering: Layering; whole: string | undefined; seed?: { name: string; layers: number }; reuse: Reuse };

export async function planReuse(o: JobOptions, read: ReadImage, prefix: string | undefined): Promise<ReusePlan> {
  const { archive } = read;
  const n = archive.layers.length;
  if (o.dryRun) return { kind: "off", why: "a dry run asks no server what it has" };
  if (!prefix)
    return { kind: "off", why: "there is no registry prefix to keep base images in (from GET /registry_prefix or --registry-prefix)" };
  // It becomes a FROM line: nothing but what an image reference is made of.
  if (!/^[a-z0-9][a-z0-9._:/-]*$/i.test(prefix))
    return { kind: "off", why: `the registry prefix ${JSON.stringify(prefix)} is not part of an image reference` };
  if (!archive.identity) return { kind: "off", why: "the image's config does not name each of its layers (rootfs.diff_ids)" };
  const { diffIds, imageId, created } = archive.identity;
  const bytes = archive.layers.map((l) => archive.layerBytes.get(l) ?? 0);
  const below = (k: number) => bytes.slice(0, k).reduce((a, b) => a + b, 0);
  const reuse = (reused: number, base: string): Reuse => ({
    total: n,
    reused,
    bytesReused: below(reused),
    bytesSent: below(n) - below(reused),
    base,
  });
  const ask = async (ref: string) => (await imageExists(o.endpoint, ref, o.statusTimeoutMs, o.signal)).exists;
  // The whole image is named only where the form can push it under a second name ([OH]).
  const whole = o.form === "openhands" ? wholeName(prefix, imageId) : undefined;
  if (whole) {
    const there = await ask(whole);
    if (there === undefined) return { kind: "off", why: "the server cannot say which images it has (GET /image_exists)" };
    if (there) return { kind: "on", layering: { from: whole, first: n, end: n, config: false }, whole: undefined, reuse: reuse(n, whole) };
  }
  const chain = chainIds(diffIds);
  // The first layer from `k` up that a builder might not carry faithfully, if any.
  const unsafeFrom = (k: number) => {
    const linking = lowestFrom(archive, k, linksDown);
    if (linking !== undefined) return linkedDown(linking);
    const deleting = lowestFrom(archive, k, deletesBelow);
    return deleting === undefined ? undefined : deletes(deleting);
  };
  for (let k = n - 1; k >= 1 && k >= n - MAX_QUESTIONS; k--) {
    const base = baseName(prefix, chain[k - 1] as string);
    const there = await ask(base);
    if (there === undefined) return { kind: "off", why: "the server cannot say which images it has (GET /image_exists)" };
    if (there)
      return unsafeFrom(k) ?? { kind: "on", layering: { from: base, first: k, end: n, config: true }, whole, reuse: reuse(k, base) };
  }
  if (n < 2) return { kind: "off", why: "the image has one layer: there is no base below it to keep" };
  const split = splitOf(created);
  const base = baseName(prefix, chain[split - 1] as string);
  return (
    unsafeFrom(split) ?? {
      kind: "on",
      layering: { from: base, first: split, end: n, config: true },
      whole,
      seed: { name: base, layers: split },
      reuse: reuse(split, base),
    }
  );
}

/**
 * A builder records a layer as what changed in its filesystem: a hard link to a file of a
 * lower layer comes out as a copy, not a link. Such an image is flattened, never sent wrong.
 */
function linkedDown(position: number): ReusePlan {
  return { kind: "off", why: `layer ${position} holds a hard link to a file of a lower layer, which a builder would turn into a copy` };
}

/**
 * Whiteouts and opaque markers sent in a layer's own tar are carried into the image by the
 * classic builder and buildah, but not by BuildKit (measured: test/reuse.e2e.test.ts), and
 * the tool cannot know which builder a server runs: such layers are flattened instead.
 */
function deletes(position: number): ReusePlan {
  return { kind: "off", why: `layer ${position} deletes files of lower layers, which not every builder carries into the image` };
}

/** The lowest layer from `first` up for which `test` holds. */
function lowestFrom(archive: ReadImage["archive"], first: number, test: (layer: LayerIndex) => boolean): number | undefined {
  for (let pos = first; pos < archive.layers.length; pos++) {
    const layer = archive.index.get(archive.layers[pos] as string);
    if (layer && test(layer)) return pos;
  }
  return undefined;
}

/** A hard link to a path the layer does not hold itself. */
function linksDown(layer: LayerIndex): boolean {
  if (layer.links.size === 0) return false;
  const own = new Set(layer.paths);
  return [...layer.links.values()].some((target) => !own.has(target));
}

/** A whiteout or an opaque folder. */
function deletesBelow(layer: LayerIndex): boolean {
  return layer.kinds.some((k) => k === WHITEOUT || k === OPAQUE);
}
