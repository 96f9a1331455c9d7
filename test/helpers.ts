/** Shared fixtures: the real server process, the compiled binary, and a Docker engine. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Header, pack } from "tar-stream";
import type { ServerConfig, ServerState } from "./server.ts";

export const ROOT = resolve(import.meta.dir, "..");
export const BIN = join(ROOT, "dist", "runtime-upload");
export const KEY = "rk_test_9f8e7d6c5b4a39281706";

const madeDirs: string[] = [];

/**
 * Whether a tool the test needs (skopeo, tmux, jq, wget, shellcheck) is on PATH. Missing,
 * its tests are skipped on a developer's machine, and fail where REQUIRE_TOOLS=1 says every
 * tool must be there (.ci/run sets it): in CI a missing tool is never a silent skip.
 */
export function hasTool(name: string): boolean {
  if (Bun.which(name) !== null) return true;
  if (process.env.REQUIRE_TOOLS === "1") throw new Error(`REQUIRE_TOOLS=1 but ${name} is not on PATH`);
  return false;
}

/** A fresh folder under the system's temp folder; test/setup.ts removes it after the run. */
export function tempDir(prefix = "ru-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  madeDirs.push(dir);
  return dir;
}

/** Every folder tempDir made (bun test fires no process exit event, so the run's teardown calls this). */
export function removeTempDirs(): void {
  for (const d of madeDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface TestServer {
  url: string;
  state(): Promise<ServerState>;
  configure(c: Partial<ServerConfig>): Promise<void>;
  reset(): Promise<void>;
  /** Starts a build that plays `statuses`, as if an upload had; returns its id. */
  build(statuses: string[], image: string): Promise<string>;
  stop(): void;
}

/** Starts test/server.ts as its own process, as a user's Runtime-API would be. */
export async function startServerProcess(extra: string[] = [], caFile?: string): Promise<TestServer> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "test", "server.ts"), "--port", "0", "--key", KEY, ...extra], {
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, NODE_ENV: "test" },
  });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`test server exited before listening: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const url = /https?:\/\/[^\s]+/.exec(text)?.[0];
  if (!url) throw new Error(`unexpected server banner: ${text}`);
  const tls = caFile ? { tls: { ca: await Bun.file(caFile).text() } } : {};
  const control = (path: string, body?: unknown) =>
    fetch(`${url}/_control/${path}`, body === undefined ? tls : { ...tls, method: "POST", body: JSON.stringify(body) });
  return {
    url,
    state: async () => (await (await control("state")).json()) as ServerState,
    configure: async (c) => {
      // A field given as undefined is unset (JSON would drop it, and the server would keep the old value).
      await control("config", Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v ?? null])));
    },
    reset: async () => {
      await control("reset", {});
    },
    build: async (statuses, image) => ((await (await control("build", { statuses, image })).json()) as { build_id: string }).build_id,
    stop: () => proc.kill(),
  };
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  stdin?: Blob | ReadableStream | "ignore";
  /** Called once the process is running, e.g. to signal it. */
  during?: (proc: ReturnType<typeof Bun.spawn>) => Promise<void>;
  /** As another user: the command the tool runs under (setpriv …, which execs it), a copy of the binary and a folder that user can reach. */
  as?: { command: string[]; bin: string; cwd: string };
}

/** Every copy of the tool this test process started: the only ones its leak checks look at. */
const started = new Set<number>();

/** Those of our own copies of the tool that are still running. */
export function stillRunning(): number[] {
  return [...started].filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      started.delete(pid);
      return false;
    }
  });
}

/** Runs the compiled binary with a clean environment plus `env`. */
export async function runCli(args: string[], o: CliOptions = {}): Promise<CliRun> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run 'npm test' (it builds first) or 'npm run build'`);
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };
  if (process.env.DOCKER_HOST) env.DOCKER_HOST = process.env.DOCKER_HOST;
  for (const [k, v] of Object.entries(o.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const proc = Bun.spawn([...(o.as?.command ?? []), o.as?.bin ?? BIN, ...args], {
    env,
    cwd: o.as?.cwd,
    stdin: o.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  started.add(proc.pid);
  const out = new Response(proc.stdout as ReadableStream).text();
  const err = new Response(proc.stderr as ReadableStream).text();
  try {
    if (o.during) await o.during(proc);
  } catch (e) {
    // A test that failed half-way must not leave its copy of the tool running.
    proc.kill("SIGKILL");
    await proc.exited;
    throw e;
  }
  const [code, stdout, stderr] = await Promise.all([proc.exited, out, err]);
  return { code, stdout, stderr };
}

export function apiEnv(server: TestServer, key = KEY): Record<string, string> {
  return { RUNTIME_API_URL: server.url, RUNTIME_API_KEY: key };
}

export async function sha256File(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) h.update(chunk);
  return h.digest("hex");
}

/** Polls `check` until it is truthy; a condition, never a fixed sleep. */
export async function until<T>(check: () => Promise<T> | T, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

/** Processes whose command line matches, other than ourselves (pgrep -f). */
export async function processesMatching(pattern: string): Promise<string[]> {
  const r = Bun.spawnSync(["pgrep", "-af", pattern]);
  return r.stdout
    .toString()
    .split("\n")
    .filter((l) => l.trim() && !l.includes("pgrep"));
}

/** A small tar archive in memory, as tar-stream (not our code) writes it. */
export async function tarOf(files: Record<string, Uint8Array | string>): Promise<Uint8Array> {
  const entries = Object.entries(files).map(([name, body]) => ({ name, body: typeof body === "string" ? body : Buffer.from(body) }));
  return new Uint8Array(await packTar(entries));
}

export type TarSpec = Partial<Header> & { name: string; body?: string | Buffer };

/** A tar written by tar-stream, not by our code, from these entries in order. */
export async function packTar(entries: TarSpec[]): Promise<Buffer> {
  const p = pack();
  for (const { body, ...header } of entries) {
    if (body === undefined) p.entry(header);
    else p.entry(header, body);
  }
  p.finalize();
  const parts: Buffer[] = [];
  for await (const chunk of p as unknown as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Samples a child's resident memory until it exits (Linux /proc). */
export async function peakRss(proc: ReturnType<typeof Bun.spawn>): Promise<number> {
  let peak = 0;
  while (proc.exitCode === null && proc.signalCode === null) {
    const text = await Bun.file(`/proc/${proc.pid}/status`)
      .text()
      .catch(() => "");
    const kb = Number(/VmRSS:\s+(\d+)/.exec(text)?.[1] ?? 0);
    peak = Math.max(peak, kb * 1024);
    await Bun.sleep(20);
  }
  return peak;
}

/** The file's bytes with one in the middle flipped: what a corrupted or hostile mirror serves. */
export function tampered(path: string): Buffer {
  const bytes = readFileSync(path);
  bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] as number) ^ 0xff;
  return bytes;
}
