/** What every command gets: where to print, when to stop, and how to reach the API. */
import type { Endpoint } from "../api/endpoint.ts";
import { type ConnectionArgs, connect } from "./connection.ts";
import type { Output } from "./output.ts";

export interface Session {
  out: Output;
  /** Fires on SIGINT, SIGTERM or SIGHUP. */
  signal: AbortSignal;
}

/** One status check may take this long; polling also stops it at --timeout. */
export const STATUS_TIMEOUT_MS = 60_000;

/** Reads the endpoint, masks the key in all output from here on, and says how safely it travels. */
export async function endpointFor(args: ConnectionArgs, session: Session): Promise<Endpoint> {
  const { endpoint, warnings } = await connect(args, process.env, session.signal);
  session.out.setSecret(endpoint.apiKey);
  for (const w of warnings) session.out.warn(w);
  return endpoint;
}
