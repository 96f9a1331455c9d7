/**
 * A Runtime-API test server that follows ../shared/runtime-api-contract.md: it checks
 * X-API-Key, streams the multipart upload through gunzip and a tar reader (never holding
 * it in memory), records what arrived, and plays a scripted sequence of build statuses.
 *
 *   bun test/server.ts [--host 127.0.0.1] [--port 0] [--key KEY] [--statuses PENDING,RUNNING,SUCCESS] [--discard]
 *                      [--tls-cert cert.pem --tls-key key.pem]
 *
 * Tests steer it over loopback: POST /_control/config, GET /_control/state, POST /_control/reset.
 */
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract } from "tar-stream";
import { type Builder, inRegistry, type RealBuild, realBuild, removeBuildahStore } from "./builder.ts";
import { boundaryOf, IncompleteBody, type PartHeaders, type PartSink, readForm } from "./form-parser.ts";

/** One scripted misbehaviour, consumed by the next matching request. */
export interface Fault {
  path: "/build" | "/build_status" | "/image_exists";
  /** Answer with this status (and body / headers) instead of the real handler. */
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** Answer before reading the body, as a proxy enforcing a size limit would. */
  early?: boolean;
  /** Drop the connection after reading this many body bytes. */
  resetAfterBytes?: number;
  /** Stop reading the body (and never answer) after this many bytes. */
  stallAfterBytes?: number;
  /** Read the body at most this fast, in bytes per second (a slow reader, for backpressure). */
  readRate?: number;
  /** A GET answered as usual, but this many ms late (a slow server, not a hung one). */
  late?: number;
  /** After reading the whole body (/build): answer late by this many ms, never answer, or drop the connection. */
  afterBody?: number | "hang" | "reset";
  /** Answer with a redirect to this URL (status 302 unless `status` says otherwise). */
  redirect?: string;
  /** Never answer at all, or send the headers and then nothing more. */
  hang?: "headers" | "body";
  /** A 200 (or `status`) whose body is this many bytes of JSON-ish filler, or never ends ("endless"), or trickles a byte at a time. */
  flood?: number | "endless" | "trickle";
  times?: number;
}

/** `body` may quote the key the request carried: {{key}}, {{key|json}} (escaped, no quotes), {{key|url}}. */
function echoKey(body: string, key: string | null): string {
  const k = key ?? "";
  return body
    .replaceAll("{{key}}", k)
    .replaceAll("{{key|json}}", JSON.stringify(k).slice(1, -1))
    .replaceAll("{{key|url}}", encodeURIComponent(k));
}

const hang = () => new Promise<never>(() => {});

/** The hostile answers a fault can give instead of the real handler, or undefined for none. */
function hostileAnswer(fault: Fault | undefined): Response | Promise<Response> | undefined {
  if (!fault) return undefined;
  if (fault.redirect) return new Response("moved", { status: fault.status ?? 302, headers: { location: fault.redirect } });
  if (fault.hang === "headers") return hang();
  if (fault.hang === "body") return new Response(new ReadableStream({ pull: hang }), { status: 200 });
  if (fault.flood !== undefined) return new Response(floodBody(fault.flood), { status: fault.status ?? 200 });
  return undefined;
}

/** A fault's plain answer: its status, or a 200 with its body. */
function scriptedAnswer(fault: Fault | undefined, key: string | null): Response | undefined {
  if (fault?.status) return new Response(echoKey(fault.body ?? "", key), { status: fault.status, headers: fault.headers });
  if (fault?.body !== undefined) {
    return new Response(echoKey(fault.body, key), { status: 200, headers: { "content-type": "application/json" } });
  }
  return undefined;
}

function floodBody(flood: NonNullable<Fault["flood"]>): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  let left = typeof flood === "number" ? flood : Number.POSITIVE_INFINITY;
  return new ReadableStream({
    async pull(controller) {
      if (flood === "trickle") {
        await Bun.sleep(200);
        controller.enqueue(new Uint8Array([0x20]));
        return;
      }
      if (left <= 0) return controller.close();
      const n = Math.min(left, chunk.byteLength);
      left -= n;
      controller.enqueue(chunk.subarray(0, n));
    },
  });
}

export interface ServerConfig {
  key: string;
  statuses: string[];
  /** The image the status reports on SUCCESS; default: target_image. */
  image?: string;
  /** Count bytes only (benchmarks): no multipart parsing, no gunzip, no tar, no hash. */
  discard: boolean;
  /** Images GET /image_exists reports as present (besides those it built). */
  existing: string[];
  /** What GET /registry_prefix answers; without it, 404 (as the [UP] server has no such endpoint). */
  registryPrefix?: string;
  /** Endpoints answered with 404, as a server that lacks them would ("/image_exists"). */
  lacks?: string[];
  /** Built images are not reported by /image_exists: a server that lost them (those whose name holds the string, where one is given). */
  forgets?: boolean | string;
  /**
   * Build what arrives with the tests' dockerd, as a builder server would: the context must
   * hold a Dockerfile, `docker build` runs on it (classic builder or BuildKit), and the
   * status follows that build.
   */
  build?: Builder;
  /**
   * host:port of a registry (docker-registry on loopback): the builder mode then builds on a
   * fresh worker, pushes the result and its tags there, answers /registry_prefix with
   * host:port/runtime/sPID (PID: the server's), and /image_exists for that registry's names
   * from the registry itself.
   */
  registry?: string;
  /** A build whose Dockerfile's FROM names an image containing this fails, as if that image had vanished. */
  failFrom?: string;
  /** A folder where each received tar is kept as N.tar (N counts uploads from 1), for tests to open. */
  keepTarsIn?: string;
  faults: Fault[];
}

export interface Upload {
  id: string | undefined;
  complete: boolean;
  error?: string;
  shape?: "up" | "oh";
  fields: Record<string, string[]>;
  file?: { name: string; filename?: string; contentType?: string };
  bodyBytes: number;
  /** The gzip bytes of the file part, decoded from base64 for the [OH] form. */
  gzipBytes: number;
  tarBytes: number;
  tarSha256?: string;
  /** sha256 of the file part's bytes as they arrived (base64 text for the [OH] form): what the tool says it sent. */
  partSha256?: string;
  entries: string[];
  /** sha256 of each regular file in the tar, by name (the first 10,000). */
  files: Record<string, string>;
  statusCalls: number;
  /** Where the received tar was kept, if it was. */
  kept?: string;
}

export interface ServerState {
  uploads: Upload[];
  /** What GET /registry_prefix answers now, if anything. */
  registryPrefix?: string;
  requests: Array<{ method: string; path: string; query: string; key: string | null }>;
}

async function write(stream: PassThrough, chunk: Uint8Array): Promise<void> {
  if (!stream.write(chunk)) await new Promise((r) => stream.once("drain", r));
}

/** Base64 arrives in arbitrary chunk sizes; decode whole 4-character groups only. */
function base64Decoder(): Transform {
  let rest = "";
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const text = rest + chunk.toString("latin1").replace(/\s+/g, "");
      const whole = text.length - (text.length % 4);
      rest = text.slice(whole);
      cb(null, Buffer.from(text.slice(0, whole), "base64"));
    },
    flush(cb) {
      cb(rest ? new Error("base64 text ends mid-group") : null);
    },
  });
}

/** The context part: gunzip (every member), hash the tar, list its entries; keep the tar in `keepAs` if asked. */
function contextSink(upload: Upload, keepAs?: string): PartSink & { done: Promise<void> } {
  const kept = keepAs ? createWriteStream(keepAs) : undefined;
  const input = new PassThrough({ highWaterMark: 1 << 20 });
  let decoded: PassThrough | Transform = input;
  const hash = createHash("sha256");
  const part = createHash("sha256");
  const done = (async () => {
    await new Promise<void>((r) => input.once("readable", () => r()));
    const head: Buffer | null = input.read(2) ?? input.read();
    if (head) input.unshift(head);
    // [UP] sends raw gzip; [OH] sends the gzip as base64 text.
    const isGzip = head !== null && head[0] === 0x1f && head[1] === 0x8b;
    upload.shape = isGzip ? "up" : "oh";
    const tar = extract();
    tar.on("entry", (header, stream, next) => {
      const keep = upload.entries.length < 10_000;
      if (keep) upload.entries.push(header.name);
      const h = createHash("sha256");
      stream.on("data", (c: unknown) => h.update(c as Buffer));
      stream.on("end", () => {
        if (keep && header.type === "file") upload.files[header.name] = h.digest("hex");
        next();
      });
    });
    // The gzip's own bytes, whichever form carried them: [OH]'s base64 is not counted.
    decoded = (isGzip ? input : input.pipe(base64Decoder())).pipe(
      new Transform({
        transform(c: Buffer, _enc, cb) {
          upload.gzipBytes += c.byteLength;
          cb(null, c);
        },
      }),
    );
    await pipeline(
      decoded,
      createGunzip(),
      new Transform({
        transform(c: Buffer, _e, cb) {
          hash.update(c);
          upload.tarBytes += c.length;
          kept?.write(c);
          cb(null, c);
        },
      }),
      tar,
    );
    upload.tarSha256 = hash.digest("hex");
    upload.partSha256 = part.digest("hex");
    if (kept) await new Promise((r) => kept.end(r));
  })();
  done.catch(() => {});
  return {
    done,
    async write(chunk) {
      part.update(chunk);
      await write(input, chunk);
    },
    end() {
      input.end();
    },
  };
}

function fieldSink(upload: Upload, h: PartHeaders): PartSink {
  const parts: Buffer[] = [];
  return {
    write(c) {
      parts.push(Buffer.from(c));
    },
    end() {
      upload.fields[h.name] = [...(upload.fields[h.name] ?? []), Buffer.concat(parts).toString("utf8")];
    },
  };
}

/**
 * Passes the body through while applying a fault's byte-level misbehaviour. A reset
 * stops reading and lets Bun's per-request idle timeout close the socket under the
 * client (it sees ECONNRESET a few seconds later).
 */
function throttle(
  body: ReadableStream<Uint8Array>,
  fault: Fault | undefined,
  upload: Upload,
  drop: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      upload.bodyBytes += value.byteLength;
      if (fault?.readRate) await Bun.sleep((value.byteLength / fault.readRate) * 1000);
      if (fault?.resetAfterBytes !== undefined && upload.bodyBytes >= fault.resetAfterBytes) {
        upload.error = "connection dropped by fault";
        drop();
        await hang();
      }
      if (fault?.stallAfterBytes !== undefined && upload.bodyBytes >= fault.stallAfterBytes) {
        upload.error = "stalled by fault";
        await hang();
      }
      controller.enqueue(value);
    },
  });
}

/** The extra names an upload asks for: [OH]'s full references, or [UP]'s bare tags on the target's repository. */
function tagsOf(upload: Upload, target: string): string[] {
  if (upload.fields.tags) return upload.fields.tags;
  const repo = target.slice(0, target.lastIndexOf(":") > target.lastIndexOf("/") ? target.lastIndexOf(":") : target.length);
  return Object.keys(upload.fields)
    .filter((k) => /^tags_\d+$/.test(k))
    .map((k) => `${repo}:${upload.fields[k]?.[0]}`);
}

function newUpload(id: string | undefined): Upload {
  return { id, complete: false, fields: {}, bodyBytes: 0, gzipBytes: 0, tarBytes: 0, entries: [], files: {}, statusCalls: 0 };
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

export function startServer(initial: Partial<ServerConfig> = {}, port = 0, tls?: { cert: string; key: string }, hostname = "127.0.0.1") {
  const defaults: ServerConfig = { key: "test-key", statuses: ["PENDING", "RUNNING", "SUCCESS"], discard: false, existing: [], faults: [] };
  let config: ServerConfig = { ...defaults, ...initial };
  let state: ServerState = { uploads: [], requests: [] };
  const builds = new Map<string, { upload: Upload; statuses: string[]; image: string; real?: { status: string } }>();
  let buildDir: string | undefined;
  /** Images whose build reached SUCCESS, with the size of the tar they came from. */
  const built = new Map<string, number>();

  /**
   * Under a real registry, a namespace of this server process's own: its builder's fresh
   * worker then removes only what this server pulled and built, and test files that run at
   * once never take each other's images away.
   */
  function registryPrefix(): string | undefined {
    return config.registryPrefix ?? (config.registry ? `${config.registry}/runtime/s${process.pid}` : undefined);
  }

  function takeFault(path: string): Fault | undefined {
    const i = config.faults.findIndex((f) => f.path === path && (f.times ?? 1) > 0);
    if (i < 0) return undefined;
    const f = config.faults[i] as Fault;
    f.times = (f.times ?? 1) - 1;
    return f;
  }

  async function handleBuild(req: Request, fault: Fault | undefined, drop: () => void): Promise<Response> {
    const upload = newUpload(undefined);
    state.uploads.push(upload);
    if (fault?.early) {
      upload.error = `answered ${fault.status} before reading the body`;
      return new Response(fault.body ?? "", { status: fault.status ?? 413, headers: fault.headers });
    }
    const boundary = boundaryOf(req.headers.get("content-type"));
    if (!boundary || !req.body) return json(400, { detail: "expected multipart/form-data" });
    if (config.discard) return discardBody(req.body, upload, fault);
    const contexts: Array<Promise<void>> = [];
    try {
      await readForm(throttle(req.body, fault, upload, drop), boundary, (h) => {
        if (h.name !== "context") return fieldSink(upload, h);
        upload.file = { name: h.name, filename: h.filename, contentType: h.contentType };
        if (config.build && !buildDir) {
          const made = mkdtempSync(join(tmpdir(), "ru-server-build-"));
          process.once("exit", () => rmSync(made, { recursive: true, force: true }));
          buildDir = made;
        }
        const keepIn = config.keepTarsIn ?? (config.build ? buildDir : undefined);
        upload.kept = keepIn && join(keepIn, `${state.uploads.length}.tar`);
        const sink = contextSink(upload, upload.kept);
        contexts.push(sink.done);
        return sink;
      });
      await Promise.all(contexts);
    } catch (e) {
      upload.error = e instanceof IncompleteBody ? e.message : `upload failed: ${(e as Error).message}`;
      return json(400, { detail: upload.error });
    }
    if (!upload.file) return json(400, { detail: "missing context file part" });
    if (fault?.afterBody !== undefined) {
      upload.error = `after the whole body: ${fault.afterBody}`;
      if (fault.afterBody === "reset") drop();
      if (typeof fault.afterBody === "number") await Bun.sleep(fault.afterBody);
      else await hang();
      upload.error = undefined;
    }
    const hostile = hostileAnswer(fault);
    if (hostile) {
      upload.error = "answered with a hostile response by fault";
      return hostile;
    }
    const target = upload.fields.target_image?.[0];
    if (!target) return json(400, { detail: "missing target_image" });
    if (config.build && !upload.entries.includes("Dockerfile")) {
      upload.error = "the build context has no Dockerfile";
      return json(400, { detail: upload.error });
    }
    // docker save archives carry manifest.json; OCI archives and layouts carry index.json.
    if (!config.build && upload.shape === "up" && !upload.entries.some((e) => e === "manifest.json" || e === "index.json")) {
      upload.error = "context is not an image archive (no manifest.json or index.json)";
      return json(400, { detail: upload.error });
    }
    return fault?.status ? faultResponse(upload, fault, req.headers.get("x-api-key")) : startBuild(upload, target, fault?.body);
  }

  /** Benchmarks: count the bytes and start a build, so the server costs as little CPU as it can. */
  async function discardBody(body: ReadableStream<Uint8Array>, upload: Upload, fault: Fault | undefined): Promise<Response> {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) upload.bodyBytes += chunk.byteLength;
    upload.gzipBytes = upload.bodyBytes;
    return fault?.status ? faultResponse(upload, fault, null) : startBuild(upload, "discarded");
  }

  function faultResponse(upload: Upload, fault: Fault, key: string | null): Response {
    upload.error = `answered ${fault.status} by fault`;
    return new Response(echoKey(fault.body ?? JSON.stringify({ detail: "scripted" }), key), {
      status: fault.status,
      headers: fault.headers,
    });
  }

  function buildOrFail(kept: string, target: string, tags: string[]): RealBuild {
    const from = Bun.spawnSync(["tar", "-xOf", kept, "Dockerfile"]).stdout.toString().split("\n")[0] ?? "";
    if (config.failFrom && from.includes(config.failFrom)) return { status: `FAILURE:${from.slice(5)}: not found (failFrom)` };
    return realBuild(kept, target, tags, config.build as Builder, config.registry ? registryPrefix() : undefined);
  }

  /** `id` lets a test hand out a build id of its own choosing (control characters, say). */
  function startBuild(upload: Upload, image: string, id?: string): Response {
    upload.complete = true;
    upload.id = id ?? randomUUID();
    const target = config.image ?? image;
    const real = config.build && upload.kept ? buildOrFail(upload.kept, target, tagsOf(upload, target)) : undefined;
    builds.set(upload.id, { upload, statuses: [...config.statuses], image: config.image ?? image, real });
    return json(202, { build_id: upload.id });
  }

  function handleStatus(url: URL): Response {
    const build = builds.get(url.searchParams.get("build_id") ?? "");
    if (!build) return json(404, { detail: "build not found" });
    const i = Math.min(build.upload.statusCalls, build.statuses.length - 1);
    build.upload.statusCalls++;
    const status = build.real?.status ?? build.statuses[i] ?? "SUCCESS";
    if (status === "SUCCESS") built.set(build.image, build.upload.tarBytes);
    const body: Record<string, unknown> = { status, image: build.image };
    if (status.startsWith("FAILURE:")) return json(200, { status: "FAILURE", error: status.slice(8) });
    return json(200, body);
  }

  const server = Bun.serve({
    hostname,
    port,
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    idleTimeout: 0,
    ...(tls ? { tls } : {}),
    async fetch(req, srv) {
      const url = new URL(req.url);
      if (url.pathname.startsWith("/_control/")) {
        if (url.pathname === "/_control/state") return json(200, { ...state, registryPrefix: registryPrefix() });
        if (url.pathname === "/_control/reset") {
          config = { ...defaults, ...initial, faults: [] };
          state = { uploads: [], requests: [] };
          built.clear();
          return json(200, {});
        }
        // A build as if an upload had started it, for tests of `status` and `wait`.
        if (url.pathname === "/_control/build") {
          const { statuses, image } = (await req.json()) as { statuses: string[]; image: string };
          const upload = newUpload(randomUUID());
          builds.set(upload.id as string, { upload, statuses, image });
          return json(200, { build_id: upload.id });
        }
        if (url.pathname === "/_control/config") {
          config = { ...config, ...((await req.json()) as Partial<ServerConfig>) };
          return json(200, config);
        }
        return json(404, { detail: "unknown control" });
      }
      const key = req.headers.get("x-api-key");
      state.requests.push({ method: req.method, path: url.pathname, query: url.search, key });
      const known =
        (req.method === "POST" && url.pathname === "/build") ||
        (req.method === "GET" && ["/build_status", "/image_exists", "/registry_prefix"].includes(url.pathname));
      if (!known || config.lacks?.includes(url.pathname)) return json(404, { detail: "Not Found" });
      if (key !== config.key) {
        await req.body?.cancel().catch(() => {});
        return json(401, { detail: "Invalid API Key" });
      }
      const fault = takeFault(url.pathname);
      if (url.pathname === "/build") return handleBuild(req, fault, () => srv.timeout(req, 1));
      const scripted = hostileAnswer(fault) ?? scriptedAnswer(fault, key);
      if (scripted) return scripted;
      if (fault?.late) await Bun.sleep(fault.late);
      if (url.pathname === "/image_exists") {
        const image = url.searchParams.get("image") ?? "";
        if (config.registry && image.startsWith(`${config.registry}/`)) {
          const exists = await inRegistry(config.registry, image);
          return json(200, { exists, image: exists ? { upload_time: "2026-01-01T00:00:00Z", image_size_bytes: 1 } : null });
        }
        const size = built.get(image);
        const forgot = config.forgets === true || (typeof config.forgets === "string" && image.includes(config.forgets));
        const exists = config.existing.includes(image) || (size !== undefined && !forgot);
        return json(200, { exists, image: exists ? { upload_time: "2026-01-01T00:00:00Z", image_size_bytes: size ?? 1 } : null });
      }
      if (url.pathname === "/registry_prefix") {
        const prefix = registryPrefix();
        if (prefix === undefined) return json(404, { detail: "Not Found" });
        return json(200, { registry_prefix: prefix });
      }
      return handleStatus(url);
    },
  });
  return server;
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const server = startServer(
    {
      key: arg("key") ?? "test-key",
      statuses: arg("statuses")?.split(",") ?? ["PENDING", "RUNNING", "SUCCESS"],
      discard: process.argv.includes("--discard"),
      build: arg("build") as ServerConfig["build"],
    },
    Number(arg("port") ?? 0),
    arg("tls-cert")
      ? { cert: readFileSync(arg("tls-cert") as string, "utf8"), key: readFileSync(arg("tls-key") as string, "utf8") }
      : undefined,
    arg("host") ?? "127.0.0.1",
  );
  console.log(`listening on ${arg("tls-cert") ? "https" : "http"}://${server.hostname}:${server.port}`);
  process.once("exit", removeBuildahStore);
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
}
