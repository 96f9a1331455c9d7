/**
 * How the layers above a base go to the server, one run of them (a segment) per build: as
 * they are, one ADD per layer's blob, where every builder carries them faithfully; else
 * flattened into one tar, with what they delete from the layers below done first by a step
 * that runs in the image (RUN rm, exec form): BuildKit does not apply the whiteouts of an
 * ADDed tar, and the tool cannot know which builder a server runs. On scratch, flattened.
 * Planned from every layer's paths (the first pass).
 */
import type { ImageArchive } from "./image-archive.ts";
import { NotReusable, unfaithful } from "./layered-context.ts";
import { DIR, type LayerIndex, OPAQUE, WHITEOUT } from "./layers.ts";

export interface Segment {
  /** The first layer position built, and the last plus one. */
  first: number;
  end: number;
  /** layers: each layer's blob as it is; flattened: one tar of them all. */
  how: "layers" | "flattened";
  /** Absolute paths the layers delete from those below `first`, and the rm that deletes them there. */
  removals: string[];
  rm?: string;
  /** Paths they delete that no RUN step can (MOUNTED): left as the base has them. */
  mounted?: string[];
}

/**
 * Every builder bind-mounts its own of these into a RUN step ("Device or resource busy" to
 * rm), and every container runtime mounts its own over them: what an image holds there is
 * never seen, so a deletion of one is left out rather than failing the build every time.
 */
const MOUNTED = new Set(["etc/hosts", "etc/hostname", "etc/resolv.conf"]);

/** Where rm may be, as a base image holds it; the first found is the one run. */
const RM = ["usr/bin/rm", "bin/rm"];

/** The segments from the base found (`found` layers; 0 for none) to the top, cut at `cuts`. */
export function planSegments(archive: ImageArchive, found: number, cuts: readonly number[]): Segment[] {
  const index = (pos: number) => archive.index.get(archive.layers[pos] as string) as LayerIndex;
  const bounds = [found, ...cuts, archive.layers.length];
  const segments: Segment[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const [first, end] = [bounds[i] as number, bounds[i + 1] as number];
    const positions = Array.from({ length: end - first }, (_, j) => first + j);
    if (first === 0) segments.push({ first, end, how: "flattened", removals: [] });
    else if (positions.every((pos) => !unfaithful(index(pos)))) segments.push({ first, end, how: "layers", removals: [] });
    else {
      linksWithin(positions, index);
      const all = removalsBelow(archive, first, end);
      const removals = all.filter((path) => !MOUNTED.has(path.slice(1)));
      const mounted = all.filter((path) => MOUNTED.has(path.slice(1)));
      const rm = removals.length > 0 ? RM.find((path) => presentBelow(archive, first, path)) : undefined;
      if (removals.length > 0 && !rm) {
        const pos = positions.find((p) => index(p).kinds.some((k) => k === WHITEOUT || k === OPAQUE));
        throw new NotReusable(
          `layer ${pos} deletes files of lower layers, which only a step run in the image deletes on every builder, and the layers below it hold no rm to run`,
        );
      }
      segments.push({ first, end, how: "flattened", removals, rm: rm && `/${rm}`, ...(mounted.length ? { mounted } : {}) });
    }
  }
  return segments;
}

/** A hard link to a file below the segment would come out as a copy: the segment cannot be sent. */
function linksWithin(positions: number[], index: (pos: number) => LayerIndex): void {
  const seen = new Set<string>();
  for (const pos of positions) {
    const layer = index(pos);
    for (const path of layer.paths) seen.add(path);
    for (const target of layer.links.values()) {
      if (!seen.has(target))
        throw new NotReusable(`layer ${pos} holds a hard link to a file of a lower layer, which a builder would turn into a copy`);
    }
  }
}

/**
 * What layers first..end-1 delete (whiteouts, opaque folders) that the layers below them
 * hold: those are deleted in the image before the flattened tar is added (which deletes
 * the rest itself). A path under one already deleted is left out.
 */
function removalsBelow(archive: ImageArchive, first: number, end: number): string[] {
  const held = new Set<string>();
  for (let pos = 0; pos < first; pos++) {
    for (const path of (archive.index.get(archive.layers[pos] as string) as LayerIndex).paths) {
      for (let p = path; p && !held.has(p); p = parent(p)) held.add(p);
    }
  }
  const targets = new Set<string>();
  for (let pos = first; pos < end; pos++) {
    const { paths, kinds } = archive.index.get(archive.layers[pos] as string) as LayerIndex;
    for (let i = 0; i < paths.length; i++) {
      const path = paths[i] as string;
      if ((kinds[i] === WHITEOUT || kinds[i] === OPAQUE) && held.has(path)) targets.add(path);
    }
  }
  const sorted = [...targets].sort();
  return sorted.filter((path) => !ancestors(path).some((a) => targets.has(a))).map((path) => `/${utf8(path)}`);
}

/** A tar name (one character a byte) as the text a Dockerfile carries: UTF-8, or it cannot be said there. */
function utf8(name: string): string {
  const text = Buffer.from(name, "latin1").toString("utf8");
  if (Buffer.from(text, "utf8").toString("latin1") !== name)
    throw new NotReusable(`the deleted path ${JSON.stringify(name)} is not UTF-8, which a Dockerfile cannot name`);
  return text;
}

function parent(path: string): string {
  const at = path.lastIndexOf("/");
  return at < 0 ? "" : path.slice(0, at);
}

function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let p = parent(path); p; p = parent(p)) out.push(p);
  return out;
}

/** Whether the image of layers 0..end-1 holds `path` (not a folder): the topmost layer that speaks of it says. */
function presentBelow(archive: ImageArchive, end: number, path: string): boolean {
  const above = ancestors(path);
  for (let pos = end - 1; pos >= 0; pos--) {
    const { paths, kinds } = archive.index.get(archive.layers[pos] as string) as LayerIndex;
    let hidden = false;
    for (let i = paths.length - 1; i >= 0; i--) {
      const p = paths[i] as string;
      if (p === path) return kinds[i] !== WHITEOUT && kinds[i] !== OPAQUE && kinds[i] !== DIR;
      if (above.includes(p) && (kinds[i] === WHITEOUT || kinds[i] === OPAQUE)) hidden = true;
    }
    if (hidden) return false;
  }
  return false;
}
