/**
 * The rules every tar walker shares: each header valid, metadata believable, a clean end
 * (two zero blocks). A walker that breaks one says where, as a TornArchive.
 */
import { BLOCK, entryName, entrySize, isZero, META, META_CAP, padding, validTarHeader } from "./block.ts";
import { sniff } from "./sniff.ts";

/** Where a torn archive was found, for the caller to phrase for its source. */
export class TornArchive extends Error {}

/**
 * The walk as a state machine over the archive's blocks: `header` says how many bytes of
 * data (padded to a block) follow, so callers can skip them by counting or by seeking.
 */
export class TarWalk {
  entries = 0;
  private zeros = 0;
  private ended = false;
  private current: { name: string; size: number } | undefined;

  /** Takes the next header block; returns how many bytes follow it before the next header. */
  header(h: Uint8Array, offset: number): number {
    if (this.ended) return 0;
    if (isZero(h)) {
      if (++this.zeros === 2) this.ended = true;
      return 0;
    }
    if (this.zeros > 0) throw new TornArchive(`a lone end-of-archive block at byte ${offset - BLOCK} is followed by more entries`);
    if (!validTarHeader(h)) {
      if (this.entries === 0 && sniff(h) === "gzip") {
        throw new TornArchive("it is gzip, not a tar: pass a .tar.gz as --input FILE (sent as is), or stream the tar uncompressed");
      }
      throw new TornArchive(
        this.entries === 0 ? "it is not a tar archive (the first header is not valid)" : `the header at byte ${offset} is not valid`,
      );
    }
    const size = entrySize(h);
    if (META.includes(String.fromCharCode(h[156] as number)) && size > META_CAP) {
      throw new TornArchive(`a ${size}-byte metadata header at byte ${offset - BLOCK} is not believable`);
    }
    this.entries++;
    this.current = { name: entryName(h), size };
    return size + padding(size);
  }

  /** The stream ended after `total` bytes, `missing` of them short of the current entry. */
  end(total: number, missing: number): void {
    if (this.ended) return;
    if (total === 0) throw new TornArchive("it is empty");
    if (missing > 0 && this.current) {
      const { name, size } = this.current;
      throw new TornArchive(`it ends inside entry ${name} (${Math.max(0, size - missing)} of ${size} bytes)`);
    }
    throw new TornArchive(`it ends after ${this.entries} entries without the end-of-archive marker`);
  }

  get done(): boolean {
    return this.ended;
  }
}
