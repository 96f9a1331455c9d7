/** Driving a real shell in a tmux pane: send keys, read the screen, wait for what it shows. */
import { join } from "node:path";
import { tempDir, until } from "./helpers.ts";

/**
 * This test process's own tmux server (-S), kept alive between sessions: a server exits as
 * its last session ends, and a session made while it shuts down goes with it (seen: a pane
 * that does not exist, an empty screen). It is ended with the run (test/setup.ts).
 */
let socket: string | undefined;

const run = (args: string[]) => Bun.spawnSync(["tmux", "-S", socket as string, ...args], { stdout: "pipe", stderr: "pipe" });

export function tmux(...args: string[]): string {
  if (!socket) {
    // In a folder of the run's own, removed with it: tmux leaves its socket behind.
    socket = join(tempDir("ru-tmux-"), "socket");
    run(["start-server", ";", "set-option", "-g", "exit-empty", "off"]);
  }
  return run(args).stdout.toString();
}

/** Ends this process's tmux server, where one was started. */
export function stopTmux(): void {
  if (socket) run(["kill-server"]);
  socket = undefined;
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
