/**
 * Every tar a layer can be, read as docker load reads it. Each tar of Go's archive/tar test
 * corpus (Debian's golang-1.19-src, read where it is installed, not copied here) and each
 * tar GNU tar makes below goes in as the one layer of a docker save archive; the tool
 * flattens it (--context dockerfile --dry-run --output), and its rootfs.tar, read back by
 * Go's archive/tar (test/go-tar), must hold what Go's reading of the layer holds, as the
 * file system a container sees: a tar Go refuses, the tool refuses in words, never "unexpected".
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, posix } from "node:path";
import { tarEntries } from "../src/tar/read.ts";
import { hasTool, peakRss, ROOT, runCli, tempDir } from "./helpers.ts";
import { saveArchiveOf } from "./image-fixture.ts";

const CORPUS = "/usr/lib/go-1.19/src/archive/tar/testdata";
/** Go's tars left out, with why: each is still read by the reader's unit tests. */
const TOO_BIG: Record<string, string> = {
  "gnu-sparse-big.tar": "a 60 GB sparse file: expanded, a 60 GB context",
  "pax-sparse-big.tar": "a 60 GB sparse file: expanded, a 60 GB context",
};
const hasGo = hasTool("go");
const hasCorpus = existsSync(CORPUS) || process.env.REQUIRE_TOOLS === "1";
const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

interface GoEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  sha256: string;
  xattrs: Record<string, string>;
}

interface GoListing {
  entries: GoEntry[];
  error?: string;
}

let dir: string;
let goTar: string;

function goList(path: string, ...flags: string[]): GoListing {
  const r = Bun.spawnSync([goTar, path, ...flags]);
  if (r.exitCode !== 0) throw new Error(`go-tar ${path}: ${r.stderr}`);
  return JSON.parse(r.stdout.toString()) as GoListing;
}

function sh(script: string, cwd: string): void {
  const r = Bun.spawnSync(["sh", "-ec", script], { cwd });
  if (r.exitCode !== 0) throw new Error(`${script}: ${r.stderr}`);
}

/** "./a/b/" → "a/b", as a path in a file system. */
const clean = (p: string) => posix.normalize(`/${p}`).replace(/^\/+|\/+$/g, "");

/** Go's types as a file system holds them: "7" and old GNU sparse are files, GNU's dump folder a folder; the rest is no file. */
const FS_TYPE: Record<string, string> = { "0": "0", "7": "0", S: "0", "1": "1", "2": "2", "3": "3", "4": "4", "5": "5", "6": "6", D: "5" };

/**
 * What unpacking the entries gives, path by path: the later entry of a path wins, and
 * what is not a file, link, device, folder or FIFO (a volume label, a global pax header) is
 * not there.
 */
function fileSystem(entries: GoEntry[]): Map<string, Omit<GoEntry, "name">> {
  const out = new Map<string, Omit<GoEntry, "name">>();
  for (const { name, ...e } of entries) {
    const type = FS_TYPE[e.type];
    const path = clean(name);
    if (!type || !path) continue;
    out.set(path, entryAs(e, type));
  }
  return out;
}

/** What the tool wrote, path by path: every entry counts, so one that is no file (a volume label) shows as extra. */
function written(entries: GoEntry[]): Map<string, Omit<GoEntry, "name">> {
  const out = new Map<string, Omit<GoEntry, "name">>();
  for (const { name, ...e } of entries) out.set(clean(name), entryAs(e, e.type));
  return out;
}

/** An entry as a file system holds it: a link or a folder holds no data, whatever its size field said. */
function entryAs(e: Omit<GoEntry, "name">, type: string): Omit<GoEntry, "name"> {
  const file = type === "0";
  return {
    ...e,
    type,
    size: file ? e.size : 0,
    sha256: file ? e.sha256 : EMPTY,
    linkname: type === "1" ? clean(e.linkname) : e.linkname,
  };
}

/** Where the words of a refusal are the point of the row. */
const REFUSED: Record<string, RegExp> = {
  "not-a-tar.tar": /layer \S+ is not a tar/,
  "damaged-sparse-map.tar": /sparse map does not hold the pairs it counts/,
};

/** Tars GNU tar writes, each the shape of one row of the issue, and a few made from them by hand: made here, in the test's folder. */
function gnuTars(at: string): Array<[string, string]> {
  const src = join(at, "src");
  sh(
    [
      "mkdir -p src/d1/d2 src/d3",
      // A sparse file: data at its start, in its middle and at its end, holes between.
      "printf head | dd of=src/sparse bs=1 conv=notrunc status=none",
      "truncate -s 3M src/sparse",
      "head -c 70000 /dev/urandom | dd of=src/sparse bs=1024 seek=1024 conv=notrunc status=none",
      "printf tail | dd of=src/sparse bs=1 seek=3145724 conv=notrunc status=none",
      "printf 'a\\n' > src/d1/a",
      "printf 'b\\n' > src/d1/d2/b",
      "printf 'old\\n' > src/old",
      "touch -d '1901-12-20 00:00:00 UTC' src/old",
      "printf '[\\n' > 'src/[bracket'",
    ].join("\n"),
    at,
  );
  const made: Array<[string, string]> = [];
  const tar = (name: string, args: string, what: string) => {
    sh(`tar ${args} -cf ../${name} ${what}`, src);
    made.push([`GNU tar: ${name}`, join(at, name)]);
  };
  tar("sparse-gnu.tar", "--sparse --format=gnu", "sparse d1");
  for (const v of ["0.0", "0.1", "1.0"]) tar(`sparse-posix-${v}.tar`, `--sparse --format=posix --sparse-version=${v}`, "sparse d1");
  tar("v7-folders.tar", "--format=v7", "d1 d3");
  tar("volume-label.tar", "--format=gnu -V 'a volume label'", "d1");
  tar("dump-folders.tar", "--format=gnu --listed-incremental=../snapshot", "d1");
  tar("pax-before-1970.tar", "--format=posix", "old d1");
  tar("bracket-first.tar", "--format=gnu", "'[bracket' d1");
  // The same archive without its end-of-archive marker (GNU tar pads to whole records with zeros).
  const whole = readFileSync(join(at, "sparse-posix-1.0.tar"));
  let end = whole.byteLength;
  while (end >= 512 && whole.subarray(end - 512, end).every((b) => b === 0)) end -= 512;
  writeFileSync(join(at, "no-end-marker.tar"), whole.subarray(0, end));
  made.push(["crafted: no-end-marker.tar", join(at, "no-end-marker.tar")]);
  // V7 folders as old writers made them (libarchive's compat_tar_directory_1): type NUL, a name ending in "/",
  // a size field of 1 that Go reads as no data (a folder never has any).
  const v7 = Buffer.from(readFileSync(join(at, "v7-folders.tar")));
  for (let h = 0; h + 512 <= v7.byteLength && v7[h] !== 0; ) {
    const size = Number.parseInt(
      v7
        .subarray(h + 124, h + 136)
        .toString("latin1")
        .replace(/\0.*$/, "")
        .trim() || "0",
      8,
    );
    if (v7[h + 156] === 0x35) {
      v7[h + 156] = 0;
      v7.write("00000000001\0", h + 124, "latin1");
      v7.fill(0x20, h + 148, h + 156);
      const sum = v7.subarray(h, h + 512).reduce((n, b) => n + b, 0);
      v7.write(`${sum.toString(8).padStart(6, "0")}\0 `, h + 148, "latin1");
    }
    h += 512 + Math.ceil(size / 512) * 512;
  }
  writeFileSync(join(at, "v7-nul-folders.tar"), v7);
  made.push(["crafted: v7-nul-folders.tar", join(at, "v7-nul-folders.tar")]);
  // Bytes that were never a tar.
  writeFileSync(join(at, "not-a-tar.tar"), Buffer.alloc(2048, "x"));
  made.push(["crafted: not-a-tar.tar", join(at, "not-a-tar.tar")]);
  // A damaged sparse map: the count no longer matches the pairs (same length, so the pax record still parses).
  const map = readFileSync(join(at, "sparse-posix-0.1.tar"))
    .toString("latin1")
    .replace(/numblocks=(\d)/, "numblocks=9");
  writeFileSync(join(at, "damaged-sparse-map.tar"), Buffer.from(map, "latin1"));
  made.push(["crafted: damaged-sparse-map.tar", join(at, "damaged-sparse-map.tar")]);
  return made;
}

/** The Go lister, built once; and every case, by name: Go's corpus, then GNU tar's. */
function setUp(): Array<[string, string]> {
  if (!hasGo || !hasCorpus) return [];
  dir = tempDir("ru-layer-tars-");
  goTar = join(dir, "go-tar");
  const build = Bun.spawnSync(["go", "build", "-o", goTar, join(ROOT, "test", "go-tar", "main.go")], {
    env: { ...process.env, GOCACHE: join(dir, "go-cache"), GO111MODULE: "off" },
  });
  if (build.exitCode !== 0) throw new Error(`go build: ${build.stderr}`);
  const corpus = readdirSync(CORPUS)
    .filter((f) => f.endsWith(".tar") && !TOO_BIG[f])
    .sort()
    .map((f): [string, string] => [`Go corpus: ${f}`, join(CORPUS, f)]);
  return [...corpus, ...gnuTars(dir)];
}

const cases = setUp();

/** The tool's flattening of `layer` as the one layer of an image: its rootfs.tar as Go reads it, or how the tool refused. */
async function flattenedByTheTool(layer: string, rootfsTo: string): Promise<{ code: number; stderr: string; rootfs?: GoListing }> {
  const archive = join(dir, "image.tar");
  writeFileSync(archive, await saveArchiveOf([readFileSync(layer)], { tag: "corpus:1" }));
  const out = join(dir, "context.tar.gz");
  const r = await runCli(["--dry-run", "--context", "dockerfile", "--level", "1", "--input", archive, "--output", out, "corpus:1"]);
  if (r.code !== 0) return r;
  sh(`tar -xzOf context.tar.gz rootfs.tar > ${rootfsTo}`, dir);
  return { ...r, rootfs: goList(rootfsTo) };
}

describe.if(hasGo && hasCorpus)("a layer tar flattens to what Go's archive/tar reads of it", () => {
  test("the corpus is there: Go's tars and GNU tar's", () => {
    expect(cases.filter(([n]) => n.startsWith("Go corpus")).length).toBeGreaterThanOrEqual(40);
    expect(cases.filter(([n]) => n.startsWith("GNU tar")).length).toBe(9);
    expect(cases.filter(([n]) => n.startsWith("crafted")).length).toBe(4);
  });

  test.each(cases)(
    "%s: the same files, modes, owners, times, links and bytes, or refused as Go refuses it",
    async (_what, path) => {
      const go = goList(path);
      const r = await flattenedByTheTool(path, join(dir, "rootfs.tar"));
      if (go.error) {
        // Refused in words, naming the layer: never an internal error.
        expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 1, stderr: expect.stringMatching(/Error: .*layer/) });
        expect(r.stderr).not.toMatch(/unexpected|preparing the image stream failed/i);
        expect(r.stderr).toMatch(REFUSED[basename(path)] ?? /./);
        return;
      }
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
      expect(r.rootfs?.error).toBeUndefined();
      expect(written(r.rootfs?.entries ?? [])).toEqual(fileSystem(go.entries));
      // gnu-incremental.tar holds a 512 MiB sparse file: expanded and hashed twice.
    },
    60_000,
  );

  test.each(Object.keys(TOO_BIG))("%s: its 60 GB sparse file is read with Go's size, and skipped without being expanded", async (f) => {
    const path = join(CORPUS, f);
    const go = goList(path, "--headers-only");
    const read: Array<[string, number]> = [];
    let first: Uint8Array | undefined;
    for await (const e of tarEntries(Bun.file(path).stream(), {})) {
      read.push([e.path, e.size]);
      first ??= await e.read(4096);
    }
    expect(read).toEqual(go.entries.map((e) => [e.name, e.size]));
    expect(first?.byteLength).toBe(4096);
  });

  test("a sparse file of 4 GiB with 1 MiB of data flattens in bounded memory, to the bytes Go reads", async () => {
    const at = tempDir("ru-sparse-4g-");
    sh(
      [
        "truncate -s 4G big",
        "head -c 524288 /dev/urandom | dd of=big bs=1M seek=100 conv=notrunc status=none",
        "head -c 524288 /dev/urandom | dd of=big bs=1M seek=4000 conv=notrunc status=none",
        "tar --sparse --format=posix -cf layer.tar big",
      ].join("\n"),
      at,
    );
    const go = goList(join(at, "layer.tar"));
    expect(go.entries.map((e) => e.size)).toEqual([4 * 1024 ** 3]);
    const archive = join(at, "image.tar");
    writeFileSync(archive, await saveArchiveOf([readFileSync(join(at, "layer.tar"))], { tag: "sparse:1" }));
    let peak = 0;
    const r = await runCli(
      ["--dry-run", "--context", "dockerfile", "--level", "1", "--input", archive, "--output", join(at, "context.tar.gz"), "sparse:1"],
      {
        during: async (proc) => {
          peak = await peakRss(proc);
        },
      },
    );
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
    expect(peak).toBeLessThan(200 * 1024 * 1024);
    // Streamed through Go's reader: the 4 GiB rootfs.tar is never written to disk. pigz inflates it in a third of gzip's time.
    const listing = Bun.spawnSync(["sh", "-ec", `pigz -dc context.tar.gz | tar -xO rootfs.tar | ${goTar} /dev/stdin`], { cwd: at });
    const rootfs = JSON.parse(listing.stdout.toString()) as GoListing;
    expect(written(rootfs.entries)).toEqual(fileSystem(go.entries));
  }, 300_000);
});
