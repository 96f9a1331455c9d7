/**
 * The rules every tar walker shares: each header valid and read the one way (header.ts),
 * metadata believable, a clean end (two zero blocks). A walker that breaks one says where,
 * as a TornArchive.
 */
import { BLOCK, isZero, latin1, META, META_CAP, numeric, padding, validTarHeader } from "./block.ts";
import { type DecodedHeader, decodeHeader, isGnuHeader, type Pending } from "./header.ts";
import { paxRecords } from "./pax.ts";
import { sniff } from "./sniff.ts";
import { MAX_EXTENSIONS, oldGnuPairs, type SparseMap } from "./sparse.ts";
import { TornArchive } from "./torn-archive.ts";

/** What the block just given was, and so what follows it. */
export type Step =
  /** The first zero block of the end, or the end itself (then `done`). */
  | { kind: "zero" }
  /** Metadata: its `size` bytes follow (then padding), for meta(). */
  | { kind: "meta"; size: number }
  /** The next block extends this header (an old GNU sparse map). */
  | { kind: "extension" }
  /** An entry: `entry.stored` bytes of data follow (then padding). */
  | { kind: "entry"; entry: DecodedHeader };

export interface WalkOptions {
  /**
   * A stream may end at a block boundary without the end-of-archive marker, as Go (so docker
   * load) reads a layer: for a layer whose bytes are checked against its diff ID. An archive
   * that is the input itself keeps needing it: that is how a cut stream is told from a whole one.
   */
  markerOptional?: boolean;
}

/**
 * The walk as a state machine over the archive's blocks: each header block goes to
 * header(), each metadata body to meta(); the step says how many bytes of data follow, so
 * callers can skip them by counting or by seeking.
 */
export class TarWalk {
  entries = 0;
  private zeros = 0;
  private ended = false;
  private current: { name: string; size: number } | undefined;
  private pending: Pending = { pax: new Map() };
  private metaType = "";
  private sparse: { header: Uint8Array; name: string; map: SparseMap; blocks: number } | undefined;

  constructor(private readonly options: WalkOptions = {}) {}

  /** Takes the next block at a header's place; `offset` is where the archive's next byte after it lies. */
  header(h: Uint8Array, offset: number): Step {
    if (this.ended) return { kind: "zero" };
    if (this.sparse) return this.extension(h);
    if (isZero(h)) {
      if (++this.zeros === 2) this.ended = true;
      return { kind: "zero" };
    }
    if (this.zeros > 0) throw new TornArchive(`a lone end-of-archive block at byte ${offset - 2 * BLOCK} is followed by more entries`);
    if (!validTarHeader(h)) {
      if (this.entries === 0 && sniff(h) === "gzip") {
        throw new TornArchive("it is gzip, not a tar: pass a .tar.gz as --input FILE (sent as is), or stream the tar uncompressed");
      }
      throw new TornArchive(
        this.entries === 0
          ? "it is not a tar archive (the first header is not valid)"
          : `the header at byte ${offset - BLOCK} is not valid`,
      );
    }
    this.entries++;
    const type = String.fromCharCode(h[156] as number);
    if (META.includes(type)) {
      const size = numeric(h, 124, 12);
      if (size === undefined || size < 0) throw new TornArchive(`the metadata header at byte ${offset - BLOCK} has no size`);
      if (size > META_CAP) throw new TornArchive(`a ${size}-byte metadata header at byte ${offset - BLOCK} is not believable`);
      this.metaType = type;
      this.current = { name: `(metadata of ${latin1(h, 0, 100)})`, size };
      return { kind: "meta", size };
    }
    if (type === "S" && isGnuHeader(h)) {
      const map: SparseMap = [];
      const name = latin1(h, 0, 100);
      if (oldGnuPairs(h, true, map, name)) {
        this.sparse = { header: h.slice(), name, map, blocks: 0 };
        return { kind: "extension" };
      }
      return this.entry(h, map);
    }
    return this.entry(h);
  }

  private extension(h: Uint8Array): Step {
    const s = this.sparse as NonNullable<typeof this.sparse>;
    if (++s.blocks > MAX_EXTENSIONS) throw new TornArchive(`entry ${s.name}'s sparse map is too large to be real`);
    if (oldGnuPairs(h, false, s.map, s.name)) return { kind: "extension" };
    this.sparse = undefined;
    return this.entry(s.header, s.map);
  }

  private entry(h: Uint8Array, map?: SparseMap): Step {
    const entry = decodeHeader(h, this.pending, map);
    this.pending = { pax: new Map() };
    this.current = { name: entry.path, size: entry.stored };
    return { kind: "entry", entry };
  }

  /** The body of the metadata header just stepped over. */
  meta(body: Uint8Array): void {
    const type = this.metaType;
    // A global header applies to no entry here (docker load ignores it), but it must still be well formed.
    if (type === "x") this.pending.pax = paxRecords(body);
    else if (type === "g") paxRecords(body);
    else if (type === "L") this.pending.longName = latin1(body, 0, body.byteLength);
    else if (type === "K") this.pending.longLink = latin1(body, 0, body.byteLength);
  }

  /** The stream ended after `total` bytes, `missing` of them short of the current entry's data. */
  end(total: number, missing: number): void {
    if (this.ended) return;
    if (total === 0) throw new TornArchive("it is empty");
    if (missing > 0 && this.current) {
      const { name, size } = this.current;
      throw new TornArchive(`it ends inside entry ${name} (${Math.max(0, size - missing)} of ${size} bytes)`);
    }
    if (this.sparse) throw new TornArchive(`it ends inside entry ${this.sparse.name}'s sparse map`);
    if (this.options.markerOptional) {
      this.ended = true;
      return;
    }
    throw new TornArchive(`it ends after ${this.entries} entries without the end-of-archive marker`);
  }

  get done(): boolean {
    return this.ended;
  }
}

/** Bytes a step says follow its block, padding included. */
export function following(step: Step): number {
  const n = step.kind === "meta" ? step.size : step.kind === "entry" ? step.entry.stored : 0;
  return n + padding(n);
}
