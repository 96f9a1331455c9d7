/**
 * `runtime-upload completion bash|zsh|fish`, sourced into the real shell (Debian's bash,
 * zsh and fish) in a tmux pane, the binary on PATH as `runtime-upload`: Tab completes an
 * option's name, then one of the words it takes, then a subcommand's option.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { BIN, hasTool, tempDir } from "./helpers.ts";
import { newSession, showing, tmux } from "./tmux.ts";

/** How each shell starts clean (no user config) and takes the script. */
const SHELLS = {
  bash: { start: "bash --norc --noprofile", load: "source <(runtime-upload completion bash)" },
  zsh: { start: "zsh -f", load: "autoload -U compinit && compinit -u && source <(runtime-upload completion zsh)" },
  fish: { start: "fish --no-config", load: "runtime-upload completion fish | source" },
} as const;

describe.each(Object.keys(SHELLS) as Array<keyof typeof SHELLS>)("completion in %s", (shell) => {
  test.skipIf(!hasTool(shell) || !hasTool("tmux"))(
    "Tab completes --eng to --engine, then po to podman; and an option of status",
    async () => {
      const bin = join(tempDir("ru-completion-"), "bin");
      mkdirSync(bin);
      symlinkSync(BIN, join(bin, "runtime-upload"));
      const session = `ru-completion-${shell}-${process.pid}`;
      const { start, load } = SHELLS[shell];
      newSession(session, 150, `env PATH='${bin}:${process.env.PATH}' PS1='PROMPT$ ' TERM=xterm ${start}`);
      try {
        tmux("send-keys", "-t", session, load, "Enter");
        tmux("send-keys", "-t", session, "clear", "Enter");
        tmux("send-keys", "-t", session, "runtime-upload --eng", "Tab");
        // The pane drops the space completion adds after a word.
        await showing(session, /runtime-upload --engine$/m, "--eng completed");
        tmux("send-keys", "-t", session, "po", "Tab");
        await showing(session, /runtime-upload --engine podman/, "po completed to podman");
        // A fresh line: Ctrl-U empties it in each shell's line editor, read in order with the
        // keys after it. Ctrl-C is a signal: on a loaded host the next key reached the old line first.
        tmux("send-keys", "-t", session, "C-u");
        tmux("send-keys", "-t", session, "runtime-upload status --ins", "Tab");
        const shown = await showing(session, /runtime-upload status --insecure$/m, "--ins completed to --insecure");
        expect(shown).not.toMatch(/command not found|Unknown command/);
        // Completed on the emptied line, not after what was there.
        expect(shown).not.toMatch(/podman\s*runtime-upload status/);
      } finally {
        tmux("kill-session", "-t", session);
      }
    },
    30_000,
  );
});
