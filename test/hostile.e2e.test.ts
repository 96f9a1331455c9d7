/**
 * The hostile table: a server, a network, an input or a user that means harm or makes a
 * mess, each row run against the compiled binary and a real server process on loopback.
 * A second server on another loopback address (another origin) records every request it
 * receives: after every row it must have received none. After every row too: the key, in
 * any form, is in no output; no stack trace; every engine child the row started is gone.
 * README.md lists this table.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import {
  chmodSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { writeSampleImage } from "../scripts/sample-image.ts";
import { apiEnv, KEY, peakRss, runCli, startServerProcess, type TestServer, tarOf, tempDir, until } from "./helpers.ts";
import { type HostileInputs, METADATA_SIZES, writeHostileInputs } from "./hostile-inputs.ts";
import type { Fault, ServerConfig } from "./server.ts";

let server: TestServer;
/** Another origin: 127.0.0.2. Nothing may ever reach it. */
let elsewhere: TestServer;
let dir: string;
let small: string;
let fakeBin: string;
let hostile: HostileInputs;
/** One whole entry, and then the archive simply stops: no two zero blocks. */
let withoutEnd: Uint8Array;
const FAST = ["--poll-interval", "0.05"];
const MiB = 1024 * 1024;
/** A key that JSON and URL encoding both change. */
const ODD_KEY = 'rk_"quote\\back/slash+plus&amp';

type Proc = ReturnType<typeof Bun.spawn>;

const build = (f: Omit<Fault, "path">): Fault => ({ path: "/build", ...f });
const status = (f: Omit<Fault, "path">): Fault => ({ path: "/build_status", ...f });
const exists = (f: Omit<Fault, "path">): Fault => ({ path: "/image_exists", ...f });

/**
 * A docker CLI stand-in: records its pid, what it was asked and its environment, and
 * plays the engine's part as FAKE_* says. `exec` keeps the recorded pid the live one.
 */
const FAKE_DOCKER = `#!/bin/sh
echo "$$ $1" >> "$FAKE_PIDS"
env > "$FAKE_PIDS.env.$$"
case "$1" in
image) [ "$FAKE_INSPECT" = hang ] && exec sleep 300; echo '[{"Size": 1000000}]'; exit 0 ;;
pull) exec sleep 300 ;;
save)
  case "$FAKE_SAVE" in
  full) exec cat "$FAKE_ARCHIVE" ;;
  torn) exec head -c 3000000 "$FAKE_ARCHIVE" ;;
  hang) head -c 3000000 "$FAKE_ARCHIVE"; exec sleep 300 ;;
  esac ;;
esac
exit 1
`;

beforeAll(async () => {
  server = await startServerProcess();
  elsewhere = await startServerProcess(["--host", "127.0.0.2"]);
  dir = tempDir("ru-hostile-");
  small = join(dir, "small.tar");
  await writeSampleImage(createWriteStream(small), { size: 8 * MiB, tag: "sample:hostile", seed: 5 });
  const whole = await tarOf({ "a.txt": "hello" });
  withoutEnd = whole.subarray(0, whole.byteLength - 1024);
  fakeBin = join(dir, "bin");
  mkdirSync(fakeBin);
  writeFileSync(join(fakeBin, "docker"), FAKE_DOCKER);
  chmodSync(join(fakeBin, "docker"), 0o755);
  hostile = await writeHostileInputs(tempDir("ru-hostile-inputs-"));
}, 60_000);
afterAll(() => {
  server.stop();
  elsewhere.stop();
});

let pidsFile: string;
beforeEach(async () => {
  await server.reset();
  await elsewhere.reset();
  pidsFile = join(tempDir("ru-pids-"), "pids");
  writeFileSync(pidsFile, "");
});

/** The environment for a row that runs the fake engine. */
function engineEnv(save: "full" | "torn" | "hang", extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...apiEnv(server),
    PATH: `${fakeBin}:${process.env.PATH}`,
    FAKE_PIDS: pidsFile,
    FAKE_SAVE: save,
    FAKE_ARCHIVE: small,
    ...extra,
  };
}

function enginePids(): Array<{ pid: number; what: string }> {
  return readFileSync(pidsFile, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => ({ pid: Number(l.split(" ")[0]), what: l.split(" ")[1] ?? "" }));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the fake engine runs `what`, then sends `signal` to the tool. */
function signalDuring(what: string, signal: NodeJS.Signals) {
  return async (proc: Proc) => {
    await until(() => enginePids().some((p) => p.what === what), `docker ${what} to run`);
    proc.kill(signal);
  };
}

/** Whether the process holds `path` open: it has started reading it. */
function holdsOpen(proc: Proc, path: string): boolean {
  return readdirSync(`/proc/${proc.pid}/fd`).some((fd) => {
    try {
      return readlinkSync(`/proc/${proc.pid}/fd/${fd}`) === path;
    } catch {
      return false;
    }
  });
}

function secretForms(key: string): string[] {
  return [key, JSON.stringify(key).slice(1, -1), encodeURIComponent(key)];
}

interface Row {
  name: string;
  config?: () => Partial<ServerConfig>;
  args?: () => string[];
  env?: () => Record<string, string | undefined>;
  stdin?: () => Blob;
  during?: (proc: Proc) => Promise<void>;
  /** The key the row uses (the server is told to expect it). */
  key?: string;
  code: number;
  stderr?: Array<string | RegExp>;
  /** Exactly what stdout must be, when the row says. */
  stdout?: string;
  /** POST /build requests the server saw. */
  attempts?: number;
  /** Uploads the server holds complete (a build was started for each); 0 unless said. */
  complete?: number;
  /** The run must end within this many seconds (a deadline is the point of the row). */
  maxSeconds?: number;
  /** Peak RSS must stay under this many bytes (memory is the point of the row). */
  maxRss?: number;
  check?: (r: { stderr: string; stdout: string }) => void | Promise<void>;
}

/** A FIFO that no one ever writes to. */
const fifo = () => {
  const path = join(dir, "key-fifo");
  if (!existsSync(path)) Bun.spawnSync(["mkfifo", path]);
  return path;
};
const sampleArgs = () => ["--input", small, "img", ...FAST];
const noRequest = async () => expect((await server.state()).requests).toEqual([]);

const redirects: Row[] = [
  {
    name: "a /build_status redirect to another origin is refused: the key never goes there",
    config: () => ({ faults: [status({ redirect: `${elsewhere.url}/build_status?build_id=stolen` })] }),
    code: 1,
    stderr: [
      /answered HTTP 302, a redirect to http:\/\/127\.0\.0\.2:\d+\/build_status, which runtime-upload does not follow/,
      "hint: the API key is only ever sent",
    ],
    stdout: "",
    complete: 1,
  },
  {
    name: "a 307 from /build to another origin is refused, not retried, and no second upload goes anywhere",
    config: () => ({ faults: [build({ redirect: `${elsewhere.url}/build`, status: 307 })] }),
    code: 1,
    stderr: ["answered HTTP 307, a redirect to http://127.0.0.2"],
    attempts: 1,
  },
  {
    name: "an /image_exists redirect (--skip-existing) is refused before any upload",
    config: () => ({ faults: [exists({ redirect: `${elsewhere.url}/image_exists` })] }),
    args: () => [...sampleArgs(), "--skip-existing"],
    code: 1,
    stderr: ["/image_exists answered HTTP 302, a redirect"],
    attempts: 0,
  },
  {
    name: "a redirect within the same origin is refused too, and its query (a token) is not shown",
    config: () => ({ faults: [status({ redirect: "/elsewhere?token=t0ken-in-query", status: 301 })] }),
    code: 1,
    stderr: [/answered HTTP 301, a redirect to http:\/\/127\.0\.0\.1:\d+\/elsewhere,/],
    complete: 1,
    check: ({ stderr }) => expect(stderr).not.toContain("t0ken-in-query"),
  },
];

const bounded: Row[] = [
  {
    name: "a 200 MB status answer is an error naming the cap, with flat memory and nothing on stdout",
    config: () => ({ faults: [status({ flood: 200 * 1000 * 1000 })] }),
    code: 1,
    stderr: [/build_status sent an answer larger than 1048576 bytes/],
    stdout: "",
    complete: 1,
    maxRss: 160 * MiB,
  },
  {
    name: "a status answer that never ends is cut at the cap",
    config: () => ({ faults: [status({ flood: "endless" })] }),
    code: 1,
    stderr: ["sent an answer larger than 1048576 bytes"],
    complete: 1,
    maxSeconds: 15,
  },
  ...(
    [
      ["a status answer that trickles forever", { flood: "trickle" }],
      ["a status request never answered (no headers)", { hang: "headers" }],
      ["a status answer whose headers come, then silence", { hang: "body" }],
    ] as const
  ).map(
    ([what, fault]): Row => ({
      name: `${what} ends at --timeout plus a few seconds`,
      config: () => ({ faults: [status({ ...fault })] }),
      args: () => [...sampleArgs(), "--timeout", "0.05"],
      code: 1,
      stderr: [/did not answer in time/, /gave up waiting for build [0-9a-f-]+ after/],
      complete: 1,
      maxSeconds: 10,
    }),
  ),
  {
    name: "a 500 on /build with an endless error body: read up to the cap, retried, then success",
    config: () => ({ faults: [build({ status: 500, flood: "endless" })] }),
    code: 0,
    stderr: ["answered HTTP 500", "(retry 1/5)", "Build completed successfully!"],
    attempts: 2,
    complete: 1,
  },
  {
    name: "a 200 MB answer to /build is an error naming the cap, with flat memory, and never a second upload",
    config: () => ({ faults: [build({ flood: 200 * 1000 * 1000 })] }),
    code: 1,
    stderr: ["sent an answer larger than 1048576 bytes", "a build may have started there"],
    attempts: 1,
    maxRss: 160 * MiB,
  },
];

const duplicates: Row[] = [
  {
    name: "no answer after the whole body: --response-timeout ends it, with no second upload",
    config: () => ({ faults: [build({ afterBody: "hang" })] }),
    args: () => [...sampleArgs(), "--response-timeout", "2"],
    code: 1,
    stderr: [
      "the whole image was sent to",
      "no answer within 2 s (--response-timeout)",
      "a build may have started there",
      "hint: it is not uploaded again, so the server cannot build twice",
    ],
    attempts: 1,
    maxSeconds: 12,
  },
  {
    name: "a slow answer after the whole body outlives --stall-timeout: one upload, success",
    config: () => ({ faults: [build({ afterBody: 2500 })] }),
    args: () => [...sampleArgs(), "--stall-timeout", "1"],
    code: 0,
    stderr: ["Build completed successfully!"],
    attempts: 1,
    complete: 1,
  },
  {
    name: "the connection dropped after the whole body was read: no second upload",
    config: () => ({ faults: [build({ afterBody: "reset" })] }),
    code: 1,
    stderr: ["the server's answer was lost", "a build may have started there"],
    attempts: 1,
  },
];

const leaks: Row[] = [
  {
    name: "a server echoing the key in its error detail: it is masked",
    config: () => ({ faults: [build({ status: 400, body: '{"detail":"bad key {{key}} for this tenant"}' })] }),
    code: 1,
    stderr: ["bad key *** for this tenant"],
  },
  {
    name: "a key with quotes and backslashes echoed into --json: masked before escaping, and the JSON stays valid",
    key: ODD_KEY,
    env: () => ({ ...apiEnv(server), RUNTIME_API_KEY: ODD_KEY }),
    config: () => ({ key: ODD_KEY, faults: [build({ status: 400, body: '{"detail":"key {{key|json}} and {{key|url}}"}' })] }),
    args: () => [...sampleArgs(), "--json"],
    code: 1,
    check: ({ stdout }) => {
      const j = JSON.parse(stdout);
      expect(j.error.message).toContain("key *** and ***");
    },
  },
  {
    name: "control characters and escape sequences from the server never reach the terminal raw",
    config: () => ({
      faults: [status({ body: JSON.stringify({ status: "FAILURE", error: "disk full\nBuild completed successfully!\u001b[2J\u202e" }) })],
    }),
    code: 1,
    stderr: ["disk full\\u000aBuild completed successfully!\\u001b[2J\\u202e"],
    complete: 1,
    check: ({ stderr }) => {
      expect(stderr).not.toMatch(/^Build completed successfully!/m);
      expect(stderr).not.toContain("\u001b[2J");
      expect(stderr).not.toContain("\u202e");
    },
  },
  {
    name: "--json keeps the server's text exact",
    config: () => ({ faults: [status({ body: JSON.stringify({ status: "FAILURE", error: "disk full\n\u001b[2J" }) })] }),
    args: () => [...sampleArgs(), "--json"],
    code: 1,
    complete: 1,
    check: ({ stdout }) => expect(JSON.parse(stdout).error.message).toBe("disk full\n\u001b[2J"),
  },
  {
    name: "a build id with an escape sequence and a newline is shown escaped",
    config: () => ({ faults: [build({ body: "id-\u001b[2J\nfake" })] }),
    code: 0,
    stderr: ["Build initiated with ID: id-\\u001b[2J\\u000afake"],
    complete: 1,
    check: ({ stderr }) => expect(stderr).not.toContain("\u001b"),
  },
];

const timers: Row[] = [
  {
    name: "a Retry-After beyond 2^31 ms on status is capped: no tight loop, the deadline holds",
    config: () => ({ faults: [status({ status: 503, headers: { "retry-after": "99999999999" }, times: 1000 })] }),
    args: () => [...sampleArgs(), "--timeout", "0.05"],
    code: 1,
    stderr: [/gave up waiting for build/],
    complete: 1,
    maxSeconds: 10,
    check: async () => expect((await server.state()).requests.filter((q) => q.path === "/build_status").length).toBeLessThan(4),
  },
  {
    name: "a --poll-interval beyond 2^31 ms: no tight loop, the deadline holds",
    config: () => ({ statuses: ["RUNNING"] }),
    args: () => ["--input", small, "img", "--poll-interval", "3000000", "--timeout", "0.05"],
    code: 1,
    stderr: [/gave up waiting for build/],
    complete: 1,
    maxSeconds: 10,
    check: async () => expect((await server.state()).requests.filter((q) => q.path === "/build_status").length).toBeLessThan(4),
  },
];

const config: Row[] = [
  ...(
    [
      ["a #fragment", "/api#frag", "must not have a fragment"],
      ["a ?query", "/api?x=1", "must not have a query"],
    ] as const
  ).map(
    ([what, tail, message]): Row => ({
      name: `RUNTIME_API_URL with ${what} is refused before any request`,
      env: () => ({ ...apiEnv(server), RUNTIME_API_URL: `${server.url}${tail}` }),
      code: 1,
      stderr: [message],
      check: noRequest,
    }),
  ),
  {
    name: "RUNTIME_API_URL with a user:password is refused and the password never echoed",
    env: () => ({ ...apiEnv(server), RUNTIME_API_URL: server.url.replace("http://", "http://me:pa55word-x@") }),
    code: 1,
    stderr: ["must not carry a user name or password"],
    check: async ({ stderr }) => {
      expect(stderr).not.toContain("pa55word-x");
      await noRequest();
    },
  },
  {
    name: "a key file with a control character is refused at once, not retried as a network fault",
    env: () => ({ RUNTIME_API_URL: server.url }),
    args: () => {
      const file = join(dir, "bad-key");
      writeFileSync(file, `${KEY}\u0007\n`);
      return [...sampleArgs(), "--api-key-file", file];
    },
    code: 1,
    stderr: ["holds a character that cannot be part of an API key"],
    check: noRequest,
  },
  {
    name: "a one-letter key is refused, and does not mangle the output",
    env: () => ({ ...apiEnv(server), RUNTIME_API_KEY: "e" }),
    args: () => [...sampleArgs(), "--json"],
    code: 1,
    stderr: ["Error: RUNTIME_API_KEY is too short to be an API key (1 characters, at least 8)"],
    check: async ({ stdout }) => {
      expect(JSON.parse(stdout).error.code).toBe("CONFIG");
      await noRequest();
    },
  },
  {
    name: "an image name that starts with - is a usage error, never an engine option",
    args: () => ["--input", small, "--", "--output=/tmp/x"],
    code: 2,
    stderr: ["is not an image name (it starts with -)"],
    check: noRequest,
  },
  {
    name: "an empty --input is a usage error, not a quiet fall-back to the engine",
    args: () => ["--input", "", "img"],
    code: 2,
    stderr: ["--input is empty"],
    check: noRequest,
  },
  {
    name: "NODE_TLS_REJECT_UNAUTHORIZED=0 warns like --insecure",
    env: () => ({ ...apiEnv(server), NODE_TLS_REJECT_UNAUTHORIZED: "0" }),
    code: 0,
    stderr: ["Warning: NODE_TLS_REJECT_UNAUTHORIZED=0: the server's TLS certificate is NOT verified"],
    complete: 1,
  },
  {
    name: "--input naming a symlink to an OCI layout folder uploads the layout it names, and only what its index reaches",
    args: () => {
      const layout = join(dir, "layout");
      mkdirSync(join(layout, "blobs", "sha256"), { recursive: true });
      writeFileSync(join(layout, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
      writeFileSync(join(layout, "index.json"), '{"schemaVersion":2,"manifests":[]}');
      writeFileSync(join(layout, "blobs", "sha256", "ab"), "blob");
      const link = join(dir, "layout-link");
      symlinkSync(layout, link);
      return ["--input", link, "img", ...FAST];
    },
    code: 0,
    complete: 1,
    // The blob no index reaches is not the layout's: it stays home.
    check: async () => expect((await server.state()).uploads[0]?.entries.sort()).toEqual([".", "blobs", "index.json", "oci-layout"]),
  },
];

/** Half of a real archive, as a cut-off download or a dying `docker save` leaves it. */
const firstHalf = () => new Blob([readFileSync(small).subarray(0, 4 * MiB)]);

const torn: Row[] = [
  {
    name: "stdin that stops half-way (the feeding command died): no build, and the hint asks about it",
    args: () => ["--input", "-", "img", ...FAST],
    stdin: firstHalf,
    code: 1,
    stderr: ["stdin is not a complete tar archive: it ends inside entry", "hint: did the command feeding stdin fail?"],
    attempts: 1,
  },
  {
    name: "random bytes on stdin: not a tar, no build",
    args: () => ["--input", "-", "img", ...FAST],
    stdin: () => new Blob([crypto.getRandomValues(new Uint8Array(64 * 1024))]),
    code: 1,
    stderr: ["it is not a tar archive"],
  },
  {
    name: "a tar without its end-of-archive marker on stdin: no build",
    args: () => ["--input", "-", "img", ...FAST],
    stdin: () => new Blob([withoutEnd]),
    code: 1,
    stderr: ["stdin is not a complete tar archive: it ends after 1 entries without the end-of-archive marker"],
  },
  {
    name: "gzip on stdin: named, with the way to send it",
    args: () => ["--input", "-", "img", ...FAST],
    stdin: () => new Blob([Bun.gzipSync(readFileSync(small).subarray(0, MiB))]),
    code: 1,
    stderr: ["it is gzip, not a tar"],
  },
  {
    name: "a truncated tar file: refused before any request",
    args: () => {
      const file = join(dir, "cut.tar");
      writeFileSync(file, readFileSync(small).subarray(0, 4 * MiB + 100));
      return ["--input", file, "img", ...FAST];
    },
    code: 1,
    stderr: [/file .*cut\.tar is not a complete tar archive: it ends inside entry/, "hint: the file is cut short"],
    attempts: 0,
  },
  {
    name: "a truncated .tar.gz file (sent as is): no build",
    args: () => {
      const file = join(dir, "cut.tar.gz");
      const gz = Bun.gzipSync(readFileSync(small));
      writeFileSync(file, gz.subarray(0, gz.byteLength >> 1));
      return ["--input", file, "img", ...FAST];
    },
    code: 1,
    stderr: [/cut\.tar\.gz \(gzip, sent as is\) is not a complete tar archive/],
    attempts: 1,
  },
  {
    name: "an engine whose save exits 0 after a torn archive: no build",
    env: () => engineEnv("torn"),
    args: () => ["img", ...FAST],
    code: 1,
    stderr: ["docker save img is not a complete tar archive", "hint: the engine's save ended early"],
    attempts: 1,
  },
  {
    name: "the same torn save under --context dockerfile: refused while flattening, before any request",
    env: () => engineEnv("torn"),
    args: () => ["img", "--context", "dockerfile", ...FAST],
    code: 1,
    stderr: ["docker save img is not a complete tar archive", "hint: the engine's save ended early"],
    attempts: 0,
  },
];

const signals: Row[] = [
  {
    name: "the engine never sees the API key in its environment",
    env: () => engineEnv("full"),
    args: () => ["img", ...FAST],
    code: 0,
    complete: 1,
    check: () => {
      const envs = readdirSync(join(pidsFile, "..")).filter((f) => f.includes(".env."));
      expect(envs.length).toBeGreaterThan(1);
      for (const f of envs) {
        const text = readFileSync(join(pidsFile, "..", f), "utf8");
        expect(text).toContain("FAKE_SAVE=");
        expect(text).not.toContain(KEY);
      }
    },
  },
  {
    name: "SIGTERM while the key file is a FIFO nobody writes: exit 143 at once, no request",
    env: () => ({ RUNTIME_API_URL: server.url }),
    args: () => [...sampleArgs(), "--api-key-file", fifo()],
    during: async (proc) => {
      await until(() => holdsOpen(proc, fifo()), "the key read to wait on the FIFO");
      proc.kill("SIGTERM");
    },
    code: 143,
    stderr: ["interrupted by SIGTERM"],
    maxSeconds: 10,
    check: noRequest,
  },
  {
    name: "SIGTERM during docker pull: exit 143, the pull is killed, no upload starts",
    env: () => engineEnv("full"),
    args: () => ["img", "--pull", "always", ...FAST],
    during: signalDuring("pull", "SIGTERM"),
    code: 143,
    attempts: 0,
  },
  {
    name: "SIGINT during docker image inspect: exit 130, nothing sent",
    env: () => engineEnv("full", { FAKE_INSPECT: "hang" }),
    args: () => ["img", ...FAST],
    during: signalDuring("image", "SIGINT"),
    code: 130,
    attempts: 0,
  },
  {
    name: "SIGHUP during docker save: exit 129, the save is killed, no build",
    env: () => engineEnv("hang"),
    args: () => ["img", ...FAST],
    during: async (proc) => {
      await until(async () => ((await server.state()).uploads[0]?.bodyBytes ?? 0) > 0, "the upload to start");
      proc.kill("SIGHUP");
    },
    code: 129,
    stderr: ["interrupted by SIGHUP"],
  },
  {
    name: "SIGTERM while --context dockerfile reads the layers (the first docker save): exit 143, the save is killed, nothing sent",
    env: () => engineEnv("hang"),
    args: () => ["img", "--context", "dockerfile", ...FAST],
    during: signalDuring("save", "SIGTERM"),
    code: 143,
    attempts: 0,
  },
  {
    name: "SIGTERM while waiting for /build's answer: exit 143, one upload",
    config: () => ({ faults: [build({ afterBody: "hang" })] }),
    during: async (proc) => {
      await until(async () => (await server.state()).uploads[0]?.error?.startsWith("after the whole body"), "the whole body to arrive");
      proc.kill("SIGTERM");
    },
    code: 143,
    attempts: 1,
  },
];

/** A few KB of input must cost a bounded amount: measured on the child, whatever the input claims. */
const BOUNDED = { maxRss: 200 * MiB, maxSeconds: 8 };
const refusedLayout = (path: () => string, message: string | RegExp): Omit<Row, "name"> => ({
  args: () => ["--input", path(), "img", ...FAST],
  code: 1,
  stderr: [message, "hint: "],
  attempts: 0,
  ...BOUNDED,
});
const sentEntries = async () => (await server.state()).uploads[0]?.entries.sort();

const localInputs: Row[] = [
  {
    name: "an OCI index that fans out to a nested index naming itself and one manifest hundreds of times: each read once, sent",
    args: () => ["--input", hostile.fanOut, "img", ...FAST],
    code: 0,
    complete: 1,
    ...BOUNDED,
    check: async () => expect(((await sentEntries()) ?? []).filter((e) => e.startsWith("blobs/sha256/")).length).toBe(3),
  },
  {
    name: "an OCI layout whose index.json is a FIFO no one writes: refused at once, no hang",
    ...refusedLayout(() => hostile.fifoIndex, "index.json is a FIFO; an OCI layout holds only folders and regular files"),
  },
  {
    name: "an OCI layout whose index.json links to /dev/zero: refused, nothing read",
    ...refusedLayout(() => hostile.zeroIndex, "index.json is a symbolic link"),
  },
  {
    name: "a nested index blob that is a FIFO: refused at once",
    ...refusedLayout(() => hostile.fifoNested, /blobs\/sha256\/a{64} \(blob sha256:a{64}\) is a FIFO/),
  },
  {
    name: "a nested index blob of 1 GiB: refused by its size, never read",
    ...refusedLayout(() => hostile.hugeNested, "is 1073741824 bytes, more than any image document needs (8388608)"),
  },
  {
    name: "an OCI layout folder sends only its own files: not a stray file, not a FIFO the index does not reach",
    args: () => ["--input", hostile.strays, "img", ...FAST],
    code: 0,
    complete: 1,
    ...BOUNDED,
    check: async () => {
      const entries = (await sentEntries()) ?? [];
      expect(entries).not.toContain("notes.txt");
      expect(entries.filter((e) => e.startsWith("blobs/sha256/")).length).toBe(2);
    },
  },
  ...(["x", "g", "L", "K"] as const).map(
    (type): Row => ({
      name: `a tar whose '${type}' metadata header claims gigabytes: refused before any request, nothing allocated`,
      args: () => ["--input", hostile.metadata[type].path, "img", ...FAST],
      code: 1,
      stderr: [`a ${METADATA_SIZES[type]}-byte metadata header at byte 0 is not believable`],
      attempts: 0,
      ...BOUNDED,
    }),
  ),
  {
    name: "the same under --context dockerfile: refused while flattening",
    args: () => ["--input", hostile.metadata.x.path, "img", "--context", "dockerfile", ...FAST],
    code: 1,
    stderr: ["metadata header at byte 0 is not believable"],
    attempts: 0,
    ...BOUNDED,
  },
  {
    name: "--context dockerfile on 0.3 MB of gzip holding 320 MiB of JSON-looking entries: refused at the documents' budget",
    args: () => ["--input", hostile.manyDocuments, "img", "--context", "dockerfile", ...FAST],
    code: 1,
    stderr: ["its documents add up to more than 33554432 bytes"],
    attempts: 0,
    ...BOUNDED,
  },
  {
    name: "--context dockerfile --dry-run with credentials on 1,000 tiny layers and four 7 MB layer-folder jsons (gzip'd): linear, inside the documents' budget",
    config: () => ({ registryPrefix: "registry.test/runtime" }),
    args: () => ["--input", hostile.manyLayerJsons, "img", "--context", "dockerfile", "--form", "openhands", "--dry-run"],
    code: 0,
    stderr: ["would build one of the bottom 999", "Would send 1 layer"],
    ...BOUNDED,
  },
  ...(["auto", "never"] as const).map(
    (reuse): Row => ({
      name: `--context dockerfile --reuse ${reuse} on an archive that holds a layer.tar twice (a forged copy first): refused, nothing sent`,
      config: () => ({ registryPrefix: "registry.test/runtime" }),
      args: () => ["--input", hostile.layerTwice, "img", "--context", "dockerfile", "--reuse", reuse, ...FAST],
      code: 1,
      stderr: [/the image archive holds [0-9a-f]{64}\/layer\.tar twice/, "hint: "],
      attempts: 0,
      ...BOUNDED,
    }),
  ),
  {
    name: "--context dockerfile on a layer with four 600 KB paths: flattened in linear time",
    args: () => ["--input", hostile.deepPath, "img", "--context", "dockerfile", "--dry-run"],
    code: 0,
    stderr: ["would send"],
    ...BOUNDED,
  },
  {
    name: "--context dockerfile on a manifest naming one layer 100,000 times: flattened once, in linear time",
    args: () => ["--input", hostile.layerNamedOften, "img", "--context", "dockerfile", "--dry-run"],
    code: 0,
    stderr: ["would send"],
    ...BOUNDED,
  },
  ...(
    [
      ["uid=abc", () => hostile.paxUid, 'a pax header\'s uid is not a number that fits: "abc"'],
      ["mtime=1e400", () => hostile.paxMtime, 'a pax header\'s mtime is not a number that fits: "1e400"'],
    ] as const
  ).map(
    ([what, path, message]): Row => ({
      name: `a layer entry with pax ${what} is refused, never written on as NaN`,
      args: () => ["--input", path(), "img", "--context", "dockerfile", "--dry-run"],
      code: 1,
      stderr: [message],
      ...BOUNDED,
    }),
  ),
  {
    name: "--context dockerfile on a layer whose sparse file claims a petabyte of holes: refused by its size, never expanded",
    args: () => ["--input", hostile.sparseBomb, "img", "--context", "dockerfile", "--dry-run"],
    code: 1,
    stderr: ["the image's sparse files would flatten to 1048576.0 GiB", "past the 64 GiB of holes", "--context image"],
    ...BOUNDED,
  },
  {
    name: "--output FILE never writes through a symlink planted where its partial file would be",
    args: () => {
      const victim = join(dir, "victim.txt");
      writeFileSync(victim, "precious\n");
      const out = join(dir, "out.tar.gz");
      symlinkSync(victim, `${out}.partial`);
      return ["--input", small, "img", "--dry-run", "--output", out];
    },
    code: 0,
    check: () => {
      expect(readFileSync(join(dir, "victim.txt"), "utf8")).toBe("precious\n");
      expect(gunzipSync(readFileSync(join(dir, "out.tar.gz"))).equals(readFileSync(small))).toBe(true);
    },
  },
];

const rows = [...redirects, ...bounded, ...duplicates, ...leaks, ...timers, ...config, ...torn, ...signals, ...localInputs];

describe("hostile table", () => {
  test.each(rows.map((r) => [r.name, r] as const))(
    "%s",
    async (_name, row) => {
      if (row.config) await server.configure(row.config());
      let rss: Promise<number> = Promise.resolve(0);
      const started = performance.now();
      const r = await runCli(row.args?.() ?? sampleArgs(), {
        env: row.env?.() ?? apiEnv(server),
        stdin: row.stdin?.(),
        during: async (proc) => {
          rss = peakRss(proc);
          await row.during?.(proc);
        },
      });
      const seconds = (performance.now() - started) / 1000;
      for (const s of row.stderr ?? []) {
        if (typeof s === "string") expect(r.stderr).toContain(s);
        else expect(r.stderr).toMatch(s);
      }
      expect(r.code, r.stderr).toBe(row.code);
      if (row.stdout !== undefined) expect(r.stdout).toBe(row.stdout);
      for (const form of secretForms(row.key ?? KEY)) expect(r.stdout + r.stderr).not.toContain(form);
      expect(r.stderr).not.toMatch(/^\s+at .+:\d+/m);
      if (row.maxSeconds !== undefined) expect(seconds).toBeLessThan(row.maxSeconds);
      if (row.maxRss !== undefined) expect(await rss).toBeLessThan(row.maxRss);
      const state = await server.state();
      if (row.attempts !== undefined) expect(state.requests.filter((q) => q.path === "/build").length).toBe(row.attempts);
      expect(state.uploads.filter((u) => u.complete).length).toBe(row.complete ?? 0);
      expect((await elsewhere.state()).requests).toEqual([]);
      for (const { pid } of enginePids()) await until(() => !alive(pid), `engine child ${pid} to be gone`, 5000);
      await row.check?.(r);
    },
    60_000,
  );
});

/** A line a CI runner would take as a command: GitHub's `::` at its start, Azure's `##vso[` or `##[` anywhere. */
const RUNNER_COMMAND = /^\s*::|##(vso)?\[/m;
const MASK = "::add-mask::x";
const SET_VARIABLE = "##vso[task.setvariable variable=RUNTIME_API_KEY]stolen";

describe("server text that a CI runner would read as a command is written inert", () => {
  const commands: Array<[string, () => Promise<string[]>]> = [
    [
      "the upload",
      async () => {
        await server.configure({ image: MASK, statuses: [SET_VARIABLE, "SUCCESS"] });
        return sampleArgs();
      },
    ],
    ["status", async () => ["status", await server.build([MASK], "img")]],
    ["wait", async () => ["wait", await server.build([SET_VARIABLE, "SUCCESS"], MASK), ...FAST]],
  ];
  test.each(commands.flatMap(([name, args]) => [[name, args, false] as const, [`${name} --json`, args, true] as const]))(
    "%s",
    async (_name, args, json) => {
      await server.reset();
      const r = await runCli([...(await args()), ...(json ? ["--json"] : [])], { env: apiEnv(server) });
      expect(r.stdout + r.stderr).not.toMatch(RUNNER_COMMAND);
      // The text is still all there, escaped for a log and exact for a JSON parser.
      if (json) expect(JSON.stringify(JSON.parse(r.stdout))).toMatch(/::add-mask::x|##vso\[task\.setvariable/);
      else expect(r.stdout + r.stderr).toMatch(/\\u003a:add-mask::x|\\u0023#vso\[task\.setvariable/);
    },
  );
});

/** Where a line splitter (Python's splitlines, a log viewer) ends a line: more than at "\n". */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the controls a line splitter ends a line at
const LINE_ENDS = /\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/;
/** Server text that a splitter cuts, or a terminal obeys (the 8-bit CSI, a right-to-left override). */
const SPLIT = "RUNNING\u2028::add-mask::x\u2029y\u0085z\u009b2Jw\u202eq";

describe("server text with separators and C1 controls: escaped in JSON and on the terminal", () => {
  test.each([
    ["--progress json", ["--progress", "json"]],
    ["--json", ["--json"]],
    ["plain lines", ["--progress", "plain"]],
  ])("%s: every line a splitter finds is a whole line, and no runner command starts one", async (_what, flags) => {
    await server.configure({ image: `img${SPLIT}`, statuses: [SPLIT, "SUCCESS"] });
    const r = await runCli([...sampleArgs(), ...flags], { env: apiEnv(server) });
    for (const out of [r.stdout, r.stderr]) {
      expect(out).not.toMatch(/[\x85\x9b\u2028\u2029\u202e]/);
      expect(out).not.toMatch(RUNNER_COMMAND);
      const lines = out.split(LINE_ENDS).filter(Boolean);
      expect(lines).toEqual(out.split("\n").filter(Boolean));
    }
    expect(r.code, r.stderr).toBe(0);
    // The text is all there for a JSON parser, and shown escaped to a person.
    if (flags[0] === "--json") expect(JSON.parse(r.stdout).image).toBe(`img${SPLIT}`);
    else if (flags[1] === "json")
      expect(
        r.stderr
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l).status),
      ).toContain(SPLIT);
    else expect(r.stderr).toContain("RUNNING\\u2028::add-mask::x\\u2029y\\u0085z\\u009b2Jw\\u202eq");
  });
});
