/**
 * gzip members of stored deflate blocks, framed in the block's own buffer: no second
 * buffer, no copy to one, and a CRC at memory speed. For data that does not compress
 * this is the whole cost of sending it as gzip.
 */

/** The most a stored deflate block holds (RFC 1951 section 3.2.4: LEN is 16 bits). */
const PIECE = 65535;
const HEADER = 10;
const PIECE_HEADER = 5;
const TRAILER = 8;

/** Bytes of the member that stores `length` bytes: what a block's buffer must hold. */
export function storedSize(length: number): number {
  return HEADER + PIECE_HEADER * Math.max(1, Math.ceil(length / PIECE)) + length + TRAILER;
}

/**
 * Turns buffer[0, length) into a gzip member in place and returns it (a view of the same
 * buffer). The buffer must hold storedSize(length) bytes.
 */
export function storeInPlace(buffer: Uint8Array, length: number): Uint8Array {
  const size = storedSize(length);
  if (buffer.byteLength < size)
    throw new RangeError(`a stored member of ${length} bytes needs ${size}, the buffer has ${buffer.byteLength}`);
  const crc = Bun.hash.crc32(buffer.subarray(0, length));
  const pieces = Math.max(1, Math.ceil(length / PIECE));
  // Every piece moves up (by its header and those before it), so moving the last first
  // never overwrites a piece still to move.
  for (let i = pieces - 1; i >= 0; i--) {
    const from = i * PIECE;
    const n = Math.min(PIECE, length - from);
    const at = HEADER + i * (PIECE_HEADER + PIECE);
    buffer.copyWithin(at + PIECE_HEADER, from, from + n);
    buffer[at] = i === pieces - 1 ? 1 : 0; // BFINAL on the last; BTYPE 00 = stored
    buffer[at + 1] = n & 0xff;
    buffer[at + 2] = n >>> 8;
    buffer[at + 3] = ~n & 0xff;
    buffer[at + 4] = (~n >>> 8) & 0xff;
  }
  // ID1 ID2, CM deflate, no flags, no mtime, XFL 0, OS unknown (RFC 1952 section 2.3).
  buffer.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff], 0);
  const view = new DataView(buffer.buffer, buffer.byteOffset, size);
  view.setUint32(size - TRAILER, crc, true);
  view.setUint32(size - 4, length >>> 0, true);
  return buffer.subarray(0, size);
}
