/**
 * What a person sees at a terminal (tmux, 80 and 120 columns): the engine's export named
 * while it is written, a bar that fits the width and stays one line through a resize, the
 * reuse plan layer by layer, a clean prompt after Ctrl-C; plain lines in CI.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, createWriteStream, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeSampleImage } from "../scripts/sample-image.ts";
import { baseName, chainIds } from "../src/context/base-images.ts";
import { archiveDocuments } from "../src/context/image-archive.ts";
import { seekEntries } from "../src/tar/list.ts";
import { apiEnv, BIN, hasTool, runCli, startServerProcess, type TestServer, tempDir, until } from "./helpers.ts";
import { file, saveArchiveOf } from "./image-fixture.ts";
import { newSession, screen, showing, tmux } from "./tmux.ts";

const hasTmux = hasTool("tmux");

let server: TestServer;
let archive: string;
/** A sample of 160 MiB, made by the first test that needs it. */
let bigArchive: string | undefined;

async function sample(mib: number, seed: number): Promise<string> {
  const path = join(tempDir(), `image-${mib}.tar`);
  const out = createWriteStream(path);
  await writeSampleImage(out, { size: mib * 1024 * 1024, tag: "sample:tty", seed });
  return path;
}

beforeAll(async () => {
  server = await startServerProcess();
  archive = await sample(24, 13);
});
afterAll(() => server.stop());
beforeEach(() => server.reset());

test.skipIf(!hasTmux)(
  "at a terminal: a live progress line with rate and ETA, then a spinner while the server builds",
  async () => {
    await server.configure({
      faults: [{ path: "/build", readRate: 2_000_000 }],
      statuses: ["RUNNING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "SUCCESS"],
    });
    const session = `ru-tty-${process.pid}`;
    const env = Object.entries(apiEnv(server))
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    newSession(session, 150, `env ${env} ${BIN} --input ${archive} img --poll-interval 0.5; echo EXIT=$?; sleep 60`);
    try {
      // The ratio appears once the first compressed bytes have gone out; wait for a frame that has it.
      await until(
        () =>
          /read [\d.]+ MiB of [\d.]+ MiB \(\d+%\), sent [\d.]+ MiB, ratio [\d.]+, [\d.]+ MB\/s, ETA \d+ s/.test(
            tmux("capture-pane", "-p", "-t", session),
          ),
        "the progress line",
      );
      await until(() => /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] building… \d+ s \(RUNNING\)/.test(tmux("capture-pane", "-p", "-t", session)), "the build spinner");
      const screen = await until(
        () => {
          const s = tmux("capture-pane", "-p", "-t", session);
          return s.includes("EXIT=") ? s : undefined;
        },
        "the run to end",
        60_000,
      );
      expect(screen).toContain("EXIT=0");
      expect(screen).toContain("Build completed successfully! Image: img");
      // The live line is cleared, not left behind among the step lines.
      expect(screen).not.toMatch(/building…/);
    } finally {
      tmux("kill-session", "-t", session);
    }
  },
  90_000,
);

test("not at a terminal: plain progress lines, no carriage returns or colours", async () => {
  await server.configure({ faults: [{ path: "/build", readRate: 1_200_000 }] });
  const r = await runCli(["--input", archive, "img", "--poll-interval", "0.05"], { env: apiEnv(server) });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/^read [\d.]+ MiB of [\d.]+ MiB \(\d+%\), sent [\d.]+ MiB, ratio [\d.]+, [\d.]+ MB\/s, ETA \d+ s$/m);
  expect(r.stderr).not.toContain("\r");
  expect(r.stderr).not.toContain("\u001b");
}, 60_000);

test("a terminal of 0 columns (script, docker exec -t before a resize): taken as 80, every cursor code a number", async () => {
  await server.configure({ statuses: ["RUNNING", "RUNNING", "RUNNING", "SUCCESS"] });
  const run = Bun.spawn(["script", "-qec", `stty cols 0 rows 0; ${BIN} --input ${archive} img --poll-interval 0.3`, "/dev/null"], {
    env: { ...process.env, ...apiEnv(server) },
    stdout: "pipe",
    stdin: "ignore",
  });
  const typescript = await new Response(run.stdout).text();
  expect(await run.exited).toBe(0);
  expect(typescript).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] building… \d+ s \(RUNNING\)/);
  // Every CSI the tool writes is digits and a final letter: "ESC[InfinityA" would print "nfinityA".
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the escape that starts a terminal code
  expect(typescript.match(/\x1b\[[^A-Za-z]*[A-Za-z]/g)?.filter((code) => !/^\x1b\[\d*[A-Za-z]$/.test(code))).toEqual([]);
}, 60_000);

/**
 * A docker CLI stand-in whose save writes nothing for 6 s, as dockerd 20.10 does while it
 * writes its export (6 s for the 1.07 GiB sample here), then the archive; its inspect
 * gives the archive's size, as the engine gives the image's.
 */
const SLOW_SAVE = `#!/bin/sh
case "$1" in
image) echo "[{\\"Size\\": $SLOW_SIZE, \\"Id\\": \\"sha256:${"a".repeat(64)}\\"}]"; exit 0 ;;
save) sleep 6; exec cat "$SLOW_ARCHIVE" ;;
esac
exit 1
`;

/** The tool in a tmux session of `width` columns, in a shell whose prompt is PROMPT$; the session is killed after `check`. */
async function atTerminal(width: number, args: string, env: Record<string, string>, check: (session: string) => Promise<void>) {
  const session = `ru-tty-${process.pid}-${width}-${Math.random().toString(36).slice(2, 8)}`;
  // The environment goes in with the session, never typed where the screen would show the key.
  // (tmux puts its own PATH over one given with -e: PATH goes on the shell's command line.)
  const { PATH = process.env.PATH, ...rest } = env;
  const vars = Object.entries(rest).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  const shell = `env PATH='${PATH}' PS1='PROMPT$ ' bash --norc --noprofile`;
  tmux("new-session", "-d", "-s", session, "-x", String(width), "-y", "40", ...vars, shell);
  try {
    tmux("send-keys", "-t", session, `clear; ${BIN} ${args}`, "Enter");
    await check(session);
  } finally {
    tmux("kill-session", "-t", session);
  }
}

const LIVE = /MB\/s/;

describe.skipIf(!hasTmux).each([80, 120])("at a terminal of %d columns", (width) => {
  test("the engine's export is named while it is written; after it, the first ETA is within 2 × the time left", async () => {
    const bin = join(tempDir("ru-tty-bin-"), "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "docker"), SLOW_SAVE);
    chmodSync(join(bin, "docker"), 0o755);
    // A link of 8 MB/s and an image far larger than what the pipeline holds in flight: seconds of
    // upload, its ETAs to be held against its end.
    await server.configure({ faults: [{ path: "/build", readRate: 8_000_000 }], statuses: ["SUCCESS"] });
    bigArchive ??= await sample(160, 17);
    const env = {
      ...apiEnv(server),
      PATH: `${bin}:${process.env.PATH}`,
      SLOW_ARCHIVE: bigArchive,
      SLOW_SIZE: String(statSync(bigArchive).size),
    };
    await atTerminal(width, "img --pull never --poll-interval 0.05", env, async (session) => {
      // Named within 2 s of the save's start (the line counts from it), while it has written nothing yet.
      await showing(session, /waiting for docker save: [0-2] s/, "the export wait to be named", 10_000);
      const shown = await showing(session, /ETA \d+ s/, "the first ETA", 30_000);
      const first = { eta: Number(/ETA (\d+) s/.exec(shown)?.[1]), at: performance.now() };
      await showing(session, /Image saved and compressed/, "the upload to end", 60_000);
      const left = (performance.now() - first.at) / 1000;
      // Whole seconds on both sides: a second of rounding either way.
      expect({ eta: first.eta, left }).toSatisfy(({ eta, left }) => eta <= 2 * left + 1 && eta >= left / 2 - 1);
      await showing(session, /Build completed successfully/, "the build to end", 60_000);
    });
  }, 90_000);

  test("the bar fits the width, and stays one line when the terminal is made narrower", async () => {
    await server.configure({ faults: [{ path: "/build", readRate: 1_000_000 }], statuses: ["SUCCESS"] });
    await atTerminal(width, `--input ${archive} img --poll-interval 0.05`, apiEnv(server), async (session) => {
      // A bar where it fits beside the numbers (at 120 columns), the numbers alone where it does not (80).
      await showing(session, width >= 120 ? /\[[= >]+\] read .* MB\/s/ : /^ {2}read .* MB\/s/m, "the bar");
      for (const line of screen(session).split("\n")) expect(line.length).toBeLessThanOrEqual(width);
      tmux("resize-window", "-t", session, "-x", "60");
      await until(
        () =>
          screen(session)
            .split("\n")
            .some((l) => LIVE.test(l) && l.length <= 60 && l.length >= 40),
        "a redraw at 60 columns",
      );
      const lines = screen(session).split("\n");
      // One live line, whole: no row of an earlier, wider draw left behind.
      expect(lines.filter((l) => LIVE.test(l) || /^\s*\[[= >]*$/.test(l)).length).toBe(1);
      for (const line of lines) expect(line.length).toBeLessThanOrEqual(60);
    });
  }, 90_000);

  test("a reuse upload's layer lines change state in place (waiting, sending, sent), then one summary line", async () => {
    const dir = tempDir("ru-tty-reuse-");
    const layered = join(dir, "layered.tar");
    const bytes = await saveArchiveOf(
      [0, 1, 2].map((i) => [file(`layer-${i}.txt`, `${i} ${width}\n`)]),
      { tag: "layered:1" },
    );
    writeFileSync(layered, bytes);
    const diffIds = (await archiveDocuments(seekEntries(layered, bytes.byteLength))).identity?.diffIds ?? [];
    const base = baseName("registry.test/runtime", chainIds(diffIds)[1] as string);
    await server.configure({ registryPrefix: "registry.test/runtime", existing: [base], faults: [], statuses: ["SUCCESS"] });
    const args = `--context dockerfile --form openhands --input ${layered} layered:1 --poll-interval 0.05`;
    await atTerminal(width, args, apiEnv(server), async (session) => {
      const shown = await showing(session, /Build completed/, "the upload to end", 60_000);
      const lines = shown.split("\n");
      for (const [pos, state] of [
        [0, "on the server"],
        [1, "on the server"],
        [2, "sent (as it is)"],
      ] as const) {
        // One line per layer, redrawn in place: its last state, and no line of an earlier one left behind.
        const id = (diffIds[pos] as string).slice(7, 19);
        expect(lines.filter((l) => l.includes(id))).toEqual([expect.stringContaining(`${id}: ${state}`)]);
      }
      // The summary is a step line, which may wrap at 80 columns.
      expect(
        lines.join("").match(/Layers: 2 of 3 on the server, 1 sent; [\d.]+ MiB sent for an image of [\d.]+ MiB, 1 build, [\d.]+ s/g),
      ).toHaveLength(1);
      for (const line of lines) expect(Bun.stringWidth(line)).toBeLessThanOrEqual(width);
    });
  }, 90_000);

  test("a build status of 70 wide (CJK) characters: the spinner line is cut by display width and leaves no stale row", async () => {
    const wide = "构".repeat(70);
    await server.configure({ faults: [], statuses: [...Array(40).fill(wide), "SUCCESS"], registryPrefix: undefined, existing: [] });
    await atTerminal(width, `--input ${archive} img --poll-interval 0.05`, apiEnv(server), async (session) => {
      const shown = await showing(session, /Build completed/, "the upload to end", 60_000);
      // Each redraw cut by characters (two columns each) wraps, and the next one climbs too few rows.
      expect(shown.split("\n").filter((l) => /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] building…/.test(l))).toEqual([]);
      expect(shown).toContain(`Build status: ${"构".repeat(5)}`);
    });
  }, 60_000);

  test("Ctrl-C during the upload: exit 130, and the prompt comes back on a clean line", async () => {
    await server.configure({
      faults: [{ path: "/build", readRate: 500_000 }],
      statuses: ["SUCCESS"],
      registryPrefix: undefined,
      existing: [],
    });
    await atTerminal(width, `--input ${archive} img; echo EXIT=$?`, apiEnv(server), async (session) => {
      await showing(session, LIVE, "the progress line");
      tmux("send-keys", "-t", session, "C-c");
      const shown = await showing(session, /^EXIT=\d+/m, "the run to end");
      expect(shown).toContain("EXIT=130");
      const lines = shown.split("\n").filter((l) => l.trim());
      expect(lines.at(-1)).toBe("PROMPT$");
      expect(lines.filter((l) => LIVE.test(l))).toEqual([]);
    });
  }, 60_000);
});
