/**
 * The target image: what the server builds, named inside its registry prefix where it
 * wants one. The local image (what the user typed) is never renamed by this.
 */
import { registryPrefix } from "../api/client.ts";
import { hasRegistry, inPrefix } from "../lib/reference.ts";
import { asksServer, type JobOptions } from "./job.ts";

/**
 * The name to build: inside the server's registry prefix where it wants one (the clients
 * that work do so), and that prefix, where there is one (base images for reuse live there).
 */
export async function targetImageOf(o: JobOptions): Promise<{ targetImage: string; prefix: string | undefined }> {
  if (o.registryPrefix === "none") return { targetImage: o.localImage, prefix: undefined };
  const named = (prefix: string | undefined, from: "server" | "flag" | "no-endpoint") => {
    const targetImage = inPrefix(o.localImage, prefix);
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
