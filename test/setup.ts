/** The whole run's teardown (preloaded by bunfig.toml): tests leave no folders behind. */
import { afterAll } from "bun:test";
import { removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);
