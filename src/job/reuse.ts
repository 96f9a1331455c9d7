/**
 * Layer reuse on a builder server (--context dockerfile, --reuse auto): find the highest
 * base of the image's bottom layers the server's registry has (named by content, asked
 * with /image_exists), or the whole image. Only the image's identity is needed for that
 * (its layers' diff IDs and its image ID): no layer is read to ask.
 */
import { imageExists } from "../api/client.ts";
import { baseName, chainIds, wholeName } from "../context/base-images.ts";
import { asksServer, type JobOptions } from "./job.ts";

/** Questions asked, the whole image's included, at most: a deep image need not cost a question per layer. */
const MAX_QUESTIONS = 24;
/** All the questions together may take this long: a slow server costs a whole upload, never a long wait before one. */
const QUESTIONS_MS = 20_000;

/** What names an image by content: its layers' diff IDs, bottom first, each once, and its image ID (hex, the sha256 of its config). */
export interface ImageIdentity {
  diffIds: readonly string[];
  imageId: string;
}

export type Found =
  | { kind: "off"; why: string }
  /** The whole image is there already, under `name`. */
  | { kind: "whole"; name: string }
  /** A base of the bottom `layers` is there, under `name`; `whole` names the image to push as well. */
  | { kind: "base"; name: string; layers: number; whole: string | undefined }
  /** No base of these layers yet: one is to be built. */
  | { kind: "none"; whole: string | undefined };

/** What reuse needs before any question to the server, or why it cannot be tried at all. */
export function reuseReady(
  o: JobOptions,
  prefix: string | undefined,
  identity: ImageIdentity | undefined,
): { why: string } | { prefix: string; identity: ImageIdentity } {
  if (!asksServer(o))
    return {
      why: "a dry run without credentials asks no server what it has (with RUNTIME_API_URL and a key it asks /image_exists for base images)",
    };
  if (!prefix) return { why: "there is no registry prefix to keep base images in (from GET /registry_prefix or --registry-prefix)" };
  if (!identity) return { why: "the image's config does not name each of its layers once (rootfs.diff_ids)" };
  return { prefix, identity };
}

/**
 * Asks the server, top down, for the whole image and then for bases of its bottom layers.
 * `triggers`: the image's config holds ONBUILD triggers, which a FROM of it would run, so
 * the whole image is never built on (nor kept to be).
 */
export async function findBase(o: JobOptions, prefix: string, identity: ImageIdentity, triggers: boolean): Promise<Found> {
  const n = identity.diffIds.length;
  const budget = AbortSignal.timeout(QUESTIONS_MS);
  const signal = AbortSignal.any([o.signal, budget]);
  // The whole image is named only where the form can push it under a second name ([OH]).
  const whole = o.form === "openhands" && !triggers ? wholeName(prefix, identity.imageId) : undefined;
  const chain = chainIds(identity.diffIds);
  const bases = Array.from({ length: n - 1 }, (_, i) => n - 1 - i).map((k) => ({ k, name: baseName(prefix, chain[k - 1] as string) }));
  const questions = [...(whole ? [{ k: n, name: whole }] : []), ...bases].slice(0, MAX_QUESTIONS);
  o.onEvent({ type: "asking", questions: questions.length });
  for (const { k, name } of questions) {
    let there: boolean | undefined;
    try {
      there = (await imageExists(o.endpoint, name, o.statusTimeoutMs, signal)).exists;
    } catch (e) {
      if (!budget.aborted || o.signal.aborted) throw e;
      return {
        kind: "off",
        why: `the server took more than ${QUESTIONS_MS / 1000} s to say which images it has (GET /image_exists): stopped asking`,
      };
    }
    if (there === undefined) return { kind: "off", why: "the server cannot say which images it has (GET /image_exists)" };
    if (there) return k === n ? { kind: "whole", name } : { kind: "base", name, layers: k, whole };
  }
  if (n < 2) return { kind: "off", why: "the image has one layer: there is no base below it to keep" };
  return { kind: "none", whole };
}
