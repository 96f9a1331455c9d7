/** Tar's 512-byte blocks and header fields, as POSIX ustar and GNU lay them out. */

export const BLOCK = 512;
/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = 2 * BLOCK;

/** Zero bytes that pad data of `size` to a whole block. */
export function padding(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK - size;
}

/**
 * A tar header's checksum counts its own field as spaces (POSIX ustar); old writers summed
 * signed bytes, and Go's reader (so docker load) takes either sum.
 */
export function validTarHeader(h: Uint8Array): boolean {
  const field = latin1(h, 148, 8).replace(/^[ \0]+|[ \0]+$/g, "");
  if (!/^[0-7]+$/.test(field)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 32 : (h[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  const value = Number.parseInt(field, 8);
  return value === unsigned || value === signed;
}

/** A NUL-terminated header field, a character a byte. */
export function latin1(h: Uint8Array, at: number, len: number): string {
  let end = at;
  while (end < at + len && h[end] !== 0) end++;
  return end === at ? "" : Buffer.from(h.buffer, h.byteOffset + at, end - at).toString("latin1");
}

export function isZero(h: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (h[i] !== 0) return false;
  return true;
}

/**
 * A numeric header field: octal (spaces and NULs around it allowed), or GNU base-256 where
 * the value outgrows it, two's complement (times before 1970). Undefined where it is neither,
 * or holds more than a double can say exactly.
 */
export function numeric(h: Uint8Array, at: number, len: number): number | undefined {
  const first = h[at] as number;
  if ((first & 0x80) !== 0) {
    const negative = (first & 0x40) !== 0;
    let n = 0;
    for (let i = at; i < at + len; i++) {
      let b = negative ? ~(h[i] as number) & 0xff : (h[i] as number);
      if (i === at) b &= 0x7f;
      n = n * 256 + b;
    }
    if (!Number.isSafeInteger(n)) return undefined;
    return negative ? -n - 1 : n;
  }
  const text = latin1(h, at, len).replace(/^[ \0]+|[ \0]+$/g, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  const n = Number.parseInt(text, 8);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Typeflags of headers that describe the next entry (pax, GNU long names) rather than being one. */
export const META = "xgLK";
/** pax/GNU metadata larger than this is not metadata: every walker refuses an archive that claims so. */
export const META_CAP = 1024 * 1024;

/** Types that never carry data, whatever their size field says (hard and symbolic links, devices, folders, FIFOs): Go's rule, so docker load's. */
export function headerOnly(type: string): boolean {
  return "123456".includes(type) && type.length === 1;
}
