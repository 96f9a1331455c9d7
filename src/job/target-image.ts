/**
 * The target image: what the server builds, named inside its registry prefix where it
 * wants one. The local image (what the user typed) is never renamed by this.
 */
import { registryPrefix } from "../api/client.ts";
import { hasRegistry, inPrefix } from "../lib/reference.ts";
import type { JobOptions } from "./job.ts";

/** The name to build: inside the server's registry prefix where it wants one (the clients that work do so). */
export async function targetImageOf(o: JobOptions): Promise<string> {
  if (o.registryPrefix === "none" || hasRegistry(o.localImage)) return o.localImage;
  if (o.registryPrefix !== "auto") {
    const targetImage = inPrefix(o.localImage, o.registryPrefix);
    o.onEvent({ type: "named", targetImage, prefix: o.registryPrefix, from: "flag" });
    return targetImage;
  }
  // A dry run asks no server.
  if (o.dryRun) return o.localImage;
  const prefix = await registryPrefix(o.endpoint, o.statusTimeoutMs, o.signal);
  const targetImage = inPrefix(o.localImage, prefix);
  o.onEvent({ type: "named", targetImage, prefix, from: prefix === undefined ? "no-endpoint" : "server" });
  return targetImage;
}
