/**
 * Placing docker save's layer folders by their v1 IDs, on the json a real save wrote
 * (dockerd 20.10.24, a three-layer image; its manifest.json put the folders in the order
 * below), and OCI blobs by their digests.
 */
import { describe, expect, test } from "bun:test";
import { LayerPositions } from "./layer-positions.ts";

const DIFF_IDS = [
  "sha256:ac7858a9af06df4564c57e00ede6e5822b70076d2455b8c26c65aa9c320c1f13",
  "sha256:44da4ce6825f277f951817332afe8a086c8b00cb26b10d920961e0748e7071cb",
  "sha256:cdd8f8efc10d1abce31c4b39cbc7040c1d0a05e886e49a61f73d39b0aab2cac2",
];

/** Each folder's json as the save wrote it, bottom layer first (manifest.json's order). */
const SAVED: Array<[string, string]> = [
  [
    "14b1014de57c2234fcaf770b75245e31fd52b8239fd8b0fb0fdcd19e6da68c66",
    '{"id":"14b1014de57c2234fcaf770b75245e31fd52b8239fd8b0fb0fdcd19e6da68c66","created":"1970-01-01T00:00:00Z","container_config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null},"os":"linux"}',
  ],
  [
    "f6f4ad3848237aa7318d0ff4868add6ce6a7f05265827caba4727326bc94e61a",
    '{"id":"f6f4ad3848237aa7318d0ff4868add6ce6a7f05265827caba4727326bc94e61a","parent":"14b1014de57c2234fcaf770b75245e31fd52b8239fd8b0fb0fdcd19e6da68c66","created":"1970-01-01T00:00:00Z","container_config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null},"os":"linux"}',
  ],
  [
    "1176342fa14ea513a64c1f6872cab246aa9da82e0276b0c58d0aacf7e9bacb3e",
    '{"id":"1176342fa14ea513a64c1f6872cab246aa9da82e0276b0c58d0aacf7e9bacb3e","parent":"f6f4ad3848237aa7318d0ff4868add6ce6a7f05265827caba4727326bc94e61a","created":"2026-11-29T17:22:59.123996894Z","container":"4498aac50e6b39e41f2be1dfe8455f0d342bcc3bc8890704755d80f5390af381","container_config":{"Hostname":"4498aac50e6b","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/bin","VERSION=1","X=1"],"Cmd":["/bin/sh","-c","#(nop) ","ENV X=1"],"Image":"sha256:4109ef18a30690f0e59cfbd90e3a07bbdaeefdbf2f77db1f7291f7e71be8d13f","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"release":"1"}},"docker_version":"20.10.24+dfsg1","config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/bin","VERSION=1","X=1"],"Cmd":["/app/main"],"Image":"sha256:4109ef18a30690f0e59cfbd90e3a07bbdaeefdbf2f77db1f7291f7e71be8d13f","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"release":"1"}},"architecture":"amd64","os":"linux"}',
  ],
];

describe("where a layer blob sits in the image", () => {
  test.each(SAVED.map(([dir, json], pos) => [dir.slice(0, 12), pos, dir, json] as const))(
    "docker save's folder %s holds layer %d, by its v1 ID",
    (_short, pos, dir, json) => {
      const positions = new LayerPositions(DIFF_IDS);
      expect(positions.of(`${dir}/layer.tar`)).toBeUndefined();
      positions.legacy(`${dir}/json`, JSON.parse(json));
      expect(positions.of(`${dir}/layer.tar`)).toBe(pos);
    },
  );

  const [dir, json] = SAVED[1] as [string, string];
  test.each([
    ["a json whose ID derives from nothing here", `${dir}/json`, { ...JSON.parse(json), created: "2001-01-01T00:00:00Z" }, DIFF_IDS],
    ["a json under another folder's name", `${"0".repeat(64)}/json`, JSON.parse(json), DIFF_IDS],
    ["the same json for another image's layers", `${dir}/json`, JSON.parse(json), [...DIFF_IDS].reverse()],
  ])("%s places nothing", (_what, name, doc, diffIds) => {
    const positions = new LayerPositions(diffIds);
    positions.legacy(name, doc);
    expect(positions.of(`${dir}/layer.tar`)).toBeUndefined();
  });

  test("placing stops at its hashing budget, however many layers and however large their jsons: linear in the archive", () => {
    const many = Array.from({ length: 1000 }, (_, i) => `sha256:${i.toString(16).padStart(64, "0")}`);
    const positions = new LayerPositions(many);
    const big = { id: "0".repeat(64), parent: "1".repeat(64), zzz: "x".repeat(7 * 1024 * 1024) };
    const answers: boolean[] = [];
    for (let i = 0; i < 4; i++) answers.push(positions.legacy(`${"0".repeat(64)}/json`, big));
    // 7 MiB hashed per try: the budget ends the first json's tries, and every later json is refused at once.
    expect(answers).toEqual([false, false, false, false]);
  });

  test("with a manifest's places known, no layer folder's json is placed by", () => {
    expect(new LayerPositions(DIFF_IDS).placesByJson()).toBe(true);
    expect(new LayerPositions(DIFF_IDS, new Map()).placesByJson()).toBe(false);
  });

  test("an OCI blob and podman's <diff-id>.tar are placed by their digest, a diff ID; a name a manifest placed wins", () => {
    const positions = new LayerPositions(DIFF_IDS, new Map([["blobs/sha256/known", 0]]));
    expect(positions.of(`blobs/sha256/${(DIFF_IDS[2] as string).slice(7)}`)).toBe(2);
    expect(positions.of(`${(DIFF_IDS[1] as string).slice(7)}.tar`)).toBe(1);
    expect(positions.of(`sub/${(DIFF_IDS[1] as string).slice(7)}.tar`)).toBeUndefined();
    expect(positions.of("blobs/sha256/known")).toBe(0);
    expect(positions.of(`blobs/sha512/${(DIFF_IDS[2] as string).slice(7)}`)).toBeUndefined();
  });
});
