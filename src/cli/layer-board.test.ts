/** The reuse plan's lines as the builds go, and the one summary for the upload as a whole. */
import { expect, test } from "bun:test";
import type { LayerPlan } from "../job/job.ts";
import { LayerBoard } from "./layer-board.ts";

const id = (n: number) => `sha256:${String(n).repeat(64)}`;
const BASE = `reg/runtime/runtime-upload-layers:${"a".repeat(64)}`;
const NEW = `reg/runtime/runtime-upload-layers:${"b".repeat(64)}`;
const PLAN: LayerPlan[] = [
  { position: 0, diffId: id(1), bytes: 3 * 1024 * 1024, state: "on-server", base: BASE },
  { position: 1, diffId: id(2), bytes: 1024 * 1024, state: "new-base", base: NEW },
  { position: 2, diffId: id(3), bytes: 1024 * 1024, state: "sending" },
];
const states = (board: LayerBoard) => board.lines().map((l) => /: ([a-z, ]+?) ?\(|: ([a-z, ]+?) {2}/.exec(l)?.slice(1).find(Boolean));

test("each layer goes waiting, sending, sent and building, sent; those on the server stay so", () => {
  const board = new LayerBoard(PLAN);
  expect(states(board)).toEqual(["on the server", "waiting", "waiting"]);
  board.sending(1, 2);
  expect(states(board)).toEqual(["on the server", "sending", "waiting"]);
  board.sent(1000, false);
  expect(states(board)).toEqual(["on the server", "sent, building", "waiting"]);
  board.built();
  board.sending(2, 3);
  board.sent(500, false);
  board.built();
  expect(states(board)).toEqual(["on the server", "sent", "sent"]);
  expect(board.lines()[1]).toBe("  222222222222: sent (in a new base: runtime-upload-layers:bbbbbbbbbbbb)  1.0 MiB");
  expect(board.summary(12.34)).toBe("Layers: 1 of 3 on the server, 2 sent; 0.0 MiB sent for an image of 5.0 MiB, 2 builds, 12.3 s");
});

test("without a terminal, each change is told once", () => {
  const board = new LayerBoard(PLAN);
  expect(board.changes()).toHaveLength(3);
  board.sending(1, 3);
  expect(board.changes().map((l) => l.slice(2, 14))).toEqual(["222222222222", "333333333333"]);
  expect(board.changes()).toEqual([]);
});

test("a dry run says what it would send", () => {
  const board = new LayerBoard(PLAN);
  board.sending(1, 3);
  board.sent(2048, true);
  expect(states(board)).toEqual(["on the server", "would send", "would send"]);
  expect(board.summary(1)).toStartWith("Layers: 1 of 3 on the server, 2 would send; ");
  expect(board.summary(1)).toContain("1 build planned");
});
