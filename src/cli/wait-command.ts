/** `runtime-upload wait BUILD_ID`: resume waiting for a build, as the upload does. */

import { waitForBuild } from "../job/wait-for-build.ts";
import { realClock } from "../lib/retry.ts";
import type { WaitArgs } from "./args.ts";
import { Renderer } from "./render.ts";
import { endpointFor, type Session, STATUS_TIMEOUT_MS } from "./session.ts";

export async function waitCommand(args: WaitArgs, session: Session): Promise<void> {
  const { out } = session;
  const endpoint = await endpointFor(args, session);
  const view = new Renderer(out, "");
  try {
    const image = await waitForBuild(
      {
        endpoint,
        timeoutMs: args.timeout * 60_000,
        intervalMs: args.pollInterval * 1000,
        statusTimeoutMs: STATUS_TIMEOUT_MS,
        clock: realClock,
        signal: session.signal,
        onEvent: (e) => view.event(e),
      },
      args.buildId,
    );
    view.stop();
    Object.assign(out.facts, { outcome: "built", image });
    out.step(`Build completed successfully! Image: ${image}`);
    out.result(image);
    out.done();
  } finally {
    view.stop();
  }
}
