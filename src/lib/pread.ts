/** Positioned reads of a file, whole or not at all: the one place files are opened for reading by range. */
import { closeSync, openSync, readSync } from "node:fs";

/** Reads at `at` until `buf` is full or the file ends; how many bytes were read. */
export function preadFully(fd: number, buf: Uint8Array, at: number): number {
  let got = 0;
  while (got < buf.byteLength) {
    const n = readSync(fd, buf, got, buf.byteLength - got, at + got);
    if (n <= 0) break;
    got += n;
  }
  return got;
}

/** Runs `use` with the file open for reading, and closes it whatever happens. */
function withFile<T>(path: string, use: (fd: number) => T): T {
  const fd = openSync(path, "r");
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

/** `size` bytes of a file from `at`, fewer where it ends first. */
export function readRange(path: string, at: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  return out.subarray(
    0,
    withFile(path, (fd) => preadFully(fd, out, at)),
  );
}
