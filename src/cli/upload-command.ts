/** `runtime-upload IMAGE [TAG…]`: the main job, printed the original uploader's way. */

import type { Endpoint } from "../api/endpoint.ts";
import { UploadError } from "../errors.ts";
import { DEFAULT_BLOCK_SIZE } from "../gzip/gzip.ts";
import { runUploadJob } from "../job/upload-job.ts";
import { realClock } from "../lib/retry.ts";
import { resolveEngine } from "../source/engine.ts";
import type { UploadArgs } from "./args.ts";
import { Renderer } from "./render.ts";
import { endpointFor, type Session, STATUS_TIMEOUT_MS } from "./session.ts";

/** A dry run talks to no server, so it needs no URL and no key: its endpoint has none. */
const NO_SERVER: Endpoint = { baseUrl: "(dry run)", apiKey: "" };

/**
 * A dry run that would reuse layers asks the server what it has (read-only questions), to
 * show the plan, where the credentials to ask are there; any other dry run asks nothing.
 */
function dryRunAsks(args: UploadArgs): boolean {
  const env = process.env;
  return (
    args.context === "dockerfile" &&
    args.reuse === "auto" &&
    Boolean(env.RUNTIME_API_URL) &&
    Boolean(env.RUNTIME_API_KEY || args.apiKeyFile || args.apiKeyStdin)
  );
}

export async function uploadCommand(args: UploadArgs, session: Session): Promise<void> {
  const { out } = session;
  if (args.input === "-" && args.apiKeyStdin) {
    throw new UploadError("USAGE", "--input - and --api-key-stdin both want standard input", { hint: "pass the key with --api-key-file" });
  }
  if (args.output && !args.dryRun) {
    throw new UploadError("USAGE", "--output writes what a dry run would send, and this is not a dry run", {
      hint: "add --dry-run, then send the file with --input or build it with docker build - < FILE",
    });
  }
  const endpoint = args.dryRun && !dryRunAsks(args) ? NO_SERVER : await endpointFor(args, session);
  if (endpoint !== NO_SERVER) out.step(`Runtime API URL: ${endpoint.baseUrl}`);
  out.step(`Image name: ${args.image}`);
  const view = new Renderer(out, args.image);
  try {
    const result = await runUploadJob({
      endpoint,
      localImage: args.image,
      tags: args.tags,
      input: args.input,
      pull: args.pull,
      engine: resolveEngine(args.engine, Bun.which),
      gzip: { mode: args.gzip, level: args.level, jobs: args.jobs, blockSize: DEFAULT_BLOCK_SIZE },
      form: args.form,
      dryRun: args.dryRun,
      skipExisting: args.skipExisting,
      context: args.context,
      reuse: args.reuse,
      output: args.output,
      platform: args.platform,
      registryPrefix: args.registryPrefix ?? (args.form === "openhands" ? "auto" : "none"),
      timeoutMs: args.timeout * 60_000,
      intervalMs: args.pollInterval * 1000,
      statusTimeoutMs: STATUS_TIMEOUT_MS,
      retries: args.retries,
      stallTimeoutMs: args.stallTimeout * 1000,
      responseTimeoutMs: args.responseTimeout * 1000,
      clock: realClock,
      signal: session.signal,
      onEvent: (e) => view.event(e),
    });
    view.stop();
    view.finish();
    const { outcome, targetImage: image, uploadSeconds, buildSeconds } = result;
    Object.assign(out.facts, { outcome, image, uploadSeconds, buildSeconds });
    if (outcome === "built") {
      out.step(`Build completed successfully! Image: ${image}`);
      out.step("Image upload completed successfully!");
    }
    if (outcome !== "dry-run") out.result(image);
    out.done();
  } catch (e) {
    const id = out.facts.buildId;
    // Waiting for a base helps nothing: the image is built on it by the upload, which must run again.
    if (id && out.facts.buildKind === "base" && e instanceof UploadError && (e.code === "INTERRUPTED" || e.code === "TIMEOUT")) {
      throw new UploadError(e.code, `${e.message}; build ${id} was of a base of this image's layers, not of the image`, {
        hint: "run the same upload again: it builds the image on that base once the server has it (or builds the base again)",
      });
    }
    if (id && e instanceof UploadError && e.code === "INTERRUPTED") {
      throw new UploadError("INTERRUPTED", `${e.message}; build ${id} was started and goes on on the server`, {
        hint: `resume waiting with: runtime-upload wait ${id}`,
      });
    }
    throw e;
  } finally {
    view.stop();
  }
}
