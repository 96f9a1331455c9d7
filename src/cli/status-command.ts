/** `runtime-upload status BUILD_ID`: one check; the status on stdout, exit 1 if the build failed. */
import { getBuildStatus } from "../api/client.ts";
import { FAILED_STATUSES } from "../api/poll.ts";
import { UploadError } from "../errors.ts";
import type { StatusArgs } from "./args.ts";
import { endpointFor, type Session, STATUS_TIMEOUT_MS } from "./session.ts";

export async function statusCommand(args: StatusArgs, session: Session): Promise<void> {
  const { out } = session;
  const endpoint = await endpointFor(args, session);
  const s = await getBuildStatus(endpoint, args.buildId, STATUS_TIMEOUT_MS, session.signal);
  const succeeded = s.status === "SUCCESS";
  Object.assign(out.facts, { outcome: "status", buildId: args.buildId, status: s.status, image: succeeded ? s.image : undefined });
  out.result(s.status || "(none)");
  if (succeeded && s.image) out.step(`Image: ${s.image}`);
  if (FAILED_STATUSES.has(s.status)) {
    throw new UploadError("BUILD_FAILED", s.error || `Build failed with status: ${s.status}`, { hint: `build ID: ${args.buildId}` });
  }
  out.done();
}
