/** What a person sees: the live progress line and build spinner at a terminal (tmux), plain lines in CI. */
import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { writeSampleImage } from "../scripts/sample-image.ts";
import { apiEnv, BIN, hasTool, runCli, startServerProcess, type TestServer, tempDir, until } from "./helpers.ts";

const hasTmux = hasTool("tmux");

let server: TestServer;
let archive: string;
beforeAll(async () => {
  server = await startServerProcess();
  archive = join(tempDir(), "image.tar");
  await writeSampleImage(createWriteStream(archive), { size: 24 * 1024 * 1024, tag: "sample:tty", seed: 13 });
});
afterAll(() => server.stop());
beforeEach(() => server.reset());

function tmux(...args: string[]): string {
  return Bun.spawnSync(["tmux", ...args], { stdout: "pipe", stderr: "pipe" }).stdout.toString();
}

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
    tmux(
      "new-session",
      "-d",
      "-s",
      session,
      "-x",
      "150",
      "-y",
      "30",
      `env ${env} ${BIN} --input ${archive} img --poll-interval 0.5; echo EXIT=$?; sleep 60`,
    );
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
