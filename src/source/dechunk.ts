/**
 * HTTP/1.1's chunked transfer coding undone as the bytes arrive (RFC 9112 section 7.1), in
 * place: the body's bytes of each read are moved together at its start, over the framing,
 * so that a read hands on one piece however many chunks it holds (dockerd writes 32 KiB
 * chunks; a socket read brings up to 512 KiB, and each piece costs every stage a step).
 */

/** Where in the coding the next byte falls. */
enum At {
  Size,
  Extension,
  SizeEnd,
  Data,
  DataEnd,
  DataEndLf,
  TrailerLine,
  TrailerText,
  TrailerEnd,
  Done,
}

/** A chunk's size in hex: 13 digits are 2^52, more than any body; more is not a size. */
const SIZE_DIGITS = 13;
/** A size line's extensions and the trailer are skipped, up to this: past it, the peer is not sending HTTP. */
const SKIP_CAP = 16 * 1024;

export class BadChunking extends Error {}

export class Dechunker {
  private at = At.Size;
  private size = 0;
  private digits = 0;
  private left = 0;
  private skipped = 0;

  /** The body's last chunk and the trailer have come: anything after is not the body's. */
  get done(): boolean {
    return this.at === At.Done;
  }

  /** The body's bytes in `read`, moved together at its start (`read` is the caller's, to overwrite). */
  push(read: Uint8Array): Uint8Array {
    let out = 0;
    let i = 0;
    const n = read.byteLength;
    while (i < n && this.at !== At.Done) {
      if (this.at === At.Data) {
        const take = Math.min(this.left, n - i);
        if (out !== i) read.copyWithin(out, i, i + take);
        out += take;
        i += take;
        this.left -= take;
        if (this.left === 0) this.at = At.DataEnd;
        continue;
      }
      this.step(read[i] as number);
      i++;
    }
    return read.subarray(0, out);
  }

  /** One byte of framing: a size line, the line end after a chunk's data, or the trailer. */
  private step(b: number): void {
    switch (this.at) {
      case At.Size: {
        const digit = hexValue(b);
        if (digit >= 0 && this.digits < SIZE_DIGITS) {
          this.size = this.size * 16 + digit;
          this.digits++;
        } else if (this.digits === 0 || digit >= 0) throw new BadChunking(`a chunk size that is not hex, or too long`);
        else if (b === SEMICOLON || b === SPACE || b === TAB) this.at = At.Extension;
        else this.sizeLineEnds(b);
        return;
      }
      case At.Extension:
        if (b === CR || b === LF) this.sizeLineEnds(b);
        else this.skip();
        return;
      case At.SizeEnd:
        this.expect(b, LF);
        this.sizeDone();
        return;
      case At.DataEnd:
        if (b !== LF) this.expect(b, CR);
        this.at = b === LF ? At.Size : At.DataEndLf;
        return;
      case At.DataEndLf:
        this.expect(b, LF);
        this.at = At.Size;
        return;
      case At.TrailerLine:
        if (b === LF) this.at = At.Done;
        else if (b === CR) this.at = At.TrailerEnd;
        else {
          this.skip();
          this.at = At.TrailerText;
        }
        return;
      case At.TrailerText:
        this.skip();
        if (b === LF) this.at = At.TrailerLine;
        return;
      case At.TrailerEnd:
        this.expect(b, LF);
        this.at = At.Done;
    }
  }

  private sizeLineEnds(b: number): void {
    if (b === LF) this.sizeDone();
    else if (b === CR) this.at = At.SizeEnd;
    else throw new BadChunking(`a chunk size followed by something other than a line end`);
  }

  private sizeDone(): void {
    this.left = this.size;
    this.at = this.size === 0 ? At.TrailerLine : At.Data;
    this.size = 0;
    this.digits = 0;
  }

  private expect(b: number, want: number): void {
    if (b !== want) throw new BadChunking("a line that does not end as CRLF");
  }

  private skip(): void {
    if (++this.skipped > SKIP_CAP) throw new BadChunking(`chunk extensions or a trailer longer than ${SKIP_CAP} bytes`);
  }
}

const CR = 0x0d;
const LF = 0x0a;
const SEMICOLON = 0x3b;
const SPACE = 0x20;
const TAB = 0x09;

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  const lower = b | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
