/** Driving a real shell in a tmux pane: send keys, read the screen, wait for what it shows. */
import { until } from "./helpers.ts";

/**
 * This test process's own tmux server (-L): on the shared default one, another run's
 * last session ending (the server then exits) can take a session being made with it.
 */
const SOCKET = `ru-test-${process.pid}`;

export function tmux(...args: string[]): string {
  return Bun.spawnSync(["tmux", "-L", SOCKET, ...args], { stdout: "pipe", stderr: "pipe" }).stdout.toString();
}

/** A detached session of `width` columns running `command` (a shell, or the tool and then a shell). */
export function newSession(session: string, width: number, command: string, height = 30): void {
  tmux("new-session", "-d", "-s", session, "-x", String(width), "-y", String(height), command);
}

export const screen = (session: string) => tmux("capture-pane", "-p", "-t", session);

/** Waits for the screen to show `pattern`; a timeout says what the screen showed instead. */
export async function showing(session: string, pattern: RegExp, what: string, timeoutMs = 20_000): Promise<string> {
  try {
    return await until(() => (pattern.test(screen(session)) ? screen(session) : undefined), what, timeoutMs);
  } catch (e) {
    throw new Error(`${(e as Error).message}; the screen:\n${screen(session)}`);
  }
}
