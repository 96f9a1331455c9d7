/**
 * The target image: what the server builds, named inside its registry prefix where it
 * wants one. The local image (what the user typed) is never renamed by this.
 */
import { registryPrefix } from "../api/client.ts";
import { baseName } from "../context/base-images.ts";
import { UploadError } from "../errors.ts";
import { hasRegistry, inPrefix, isReference } from "../lib/reference.ts";
import { asksServer, type JobOptions } from "./job.ts";

/**
 * The name to build: inside the server's registry prefix where it wants one (the clients
 * that work do so), and that prefix, where there is one (base images for reuse live there).
 */
export async function targetImageOf(o: JobOptions): Promise<{ targetImage: string; prefix: string | undefined }> {
  if (o.registryPrefix === "none") return { targetImage: o.localImage, prefix: undefined };
  const named = (prefix: string | undefined, from: "server" | "flag" | "no-endpoint") => {
    const targetImage = inPrefix(o.localImage, prefix);
    if (prefix !== undefined) checkPrefix(prefix, targetImage, from === "flag");
    if (!hasRegistry(o.localImage)) o.onEvent({ type: "named", targetImage, prefix, from });
    return { targetImage, prefix };
  };
  if (o.registryPrefix !== "auto") return named(o.registryPrefix, "flag");
  // A dry run without credentials asks no server.
  if (!asksServer(o)) return { targetImage: o.localImage, prefix: undefined };
  // A name that says where it goes asks nothing (and keeps no base images anywhere).
  if (hasRegistry(o.localImage)) return { targetImage: o.localImage, prefix: undefined };
  const prefix = await registryPrefix(o.endpoint, o.statusTimeoutMs, o.signal);
  return named(prefix, prefix === undefined ? "no-endpoint" : "server");
}

/**
 * The prefix goes into every name the server is given (the target, its tags, the base
 * images): checked before anything is sent, as the reference grammar has it, so a prefix
 * no registry takes fails here, naming it, not as a build the server cannot push.
 */
function checkPrefix(prefix: string, targetImage: string, fromFlag: boolean): void {
  // A base image's name, as reuse will give it to the server: the prefix must make one.
  if (!isReference(baseName(prefix, "0".repeat(64)))) {
    const whose = fromFlag
      ? `--registry-prefix ${JSON.stringify(prefix)}`
      : `the server's registry prefix ${JSON.stringify(prefix)} (GET /registry_prefix)`;
    throw new UploadError(fromFlag ? "USAGE" : "BAD_RESPONSE", `${whose} does not make an image reference: ${targetImage}`, {
      hint: `a prefix is a registry host and lowercase path parts (letters, digits, . _ -), as in registry.example.com/team; ${
        fromFlag ? "correct it" : "pass --registry-prefix PREFIX to use another, or ask the server's operator to fix it"
      }`,
    });
  }
  if (!isReference(targetImage))
    throw new UploadError("USAGE", `the target image ${targetImage} is not an image reference`, {
      hint: "name the local image as Docker would (a lowercase repository, a tag of letters, digits, _ . -)",
    });
}
