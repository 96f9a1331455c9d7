/**
 * How right the first ETA is: the tool uploads IMAGE from the engine at a terminal (tmux,
 * each width), and the first ETA shown is held against the time the upload then took. The
 * test server discards what it receives.
 *
 *   bun bench/eta.ts IMAGE [--bin dist/runtime-upload] [--widths 80,120]
 *
 * Needs a Docker engine holding IMAGE (bun scripts/sample-image.ts --size 1GiB --out big.tar
 * && docker load -i big.tar), tmux, and npm run build.
 */

import { option } from "../scripts/option.ts";
import { apiEnv, BIN, startServerProcess } from "../test/helpers.ts";
import { newSession, screen, tmux } from "../test/tmux.ts";

const argv = process.argv.slice(2);
const image = argv.find((a, i) => !a.startsWith("--") && !argv[i - 1]?.startsWith("--"));
if (!image) throw new Error("usage: bun bench/eta.ts IMAGE [--bin PATH] [--widths 80,120]");
const bin = option("bin") ?? BIN;
const server = await startServerProcess();
await server.configure({ statuses: ["SUCCESS"], discard: true });
const env = Object.entries({ ...apiEnv(server), ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}) });
console.log("| columns | first ETA shown | at (s after start) | time the upload then took | ETA / time left |");
console.log("|---|---|---|---|---|");
for (const width of (option("widths") ?? "80,120").split(",").map(Number)) {
  const session = `ru-eta-${process.pid}-${width}`;
  newSession(session, width, `env ${env.map(([k, v]) => `${k}=${v}`).join(" ")} bash --norc --noprofile`);
  tmux("send-keys", "-t", session, `clear; ${bin} ${image} --pull never --poll-interval 0.2`, "Enter");
  const start = performance.now();
  let first: { eta: number; at: number } | undefined;
  while (!screen(session).includes("Image saved and compressed") && performance.now() - start < 600_000) {
    const eta = /ETA (\d+) s/.exec(screen(session));
    if (eta && !first) first = { eta: Number(eta[1]), at: performance.now() };
    await Bun.sleep(50);
  }
  tmux("kill-session", "-t", session);
  if (!first) console.log(`| ${width} | none shown | | | |`);
  else {
    const left = (performance.now() - first.at) / 1000;
    console.log(
      `| ${width} | ${first.eta} s | ${((first.at - start) / 1000).toFixed(1)} | ${left.toFixed(1)} s | ${(first.eta / left).toFixed(2)} |`,
    );
  }
}
server.stop();
