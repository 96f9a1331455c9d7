/** The whole run's teardown (preloaded by bunfig.toml): tests leave no folders and no tmux server behind. */
import { afterAll } from "bun:test";
import { removeTempDirs } from "./helpers.ts";
import { stopTmux } from "./tmux.ts";

afterAll(() => {
  stopTmux();
  removeTempDirs();
});
