/** What an image holds, path by path, to compare a rebuilt image with its original. */
import { expect } from "bun:test";
import { createHash } from "node:crypto";
import { extract } from "tar-stream";

export interface Node {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname: string | null;
  sha256?: string;
}

/** path → what it is, as tar-stream (not our code) reads the archive. */
export async function listing(tar: AsyncIterable<Uint8Array> | Uint8Array): Promise<Map<string, Node>> {
  const out = new Map<string, Node>();
  const x = extract();
  const done = (async () => {
    for await (const entry of x) {
      const h = entry.header;
      const hash = createHash("sha256");
      for await (const c of entry) hash.update(c as Buffer);
      out.set(h.name.replace(/^\.?\//, "").replace(/\/$/, ""), {
        type: h.type ?? "file",
        mode: (h.mode ?? 0) & 0o7777,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        size: h.size ?? 0,
        linkname: h.linkname ?? null,
        sha256: h.type === "file" ? hash.digest("hex") : undefined,
      });
    }
  })();
  if (tar instanceof Uint8Array) x.end(Buffer.from(tar));
  else {
    for await (const c of tar) if (!x.write(Buffer.from(c))) await new Promise<void>((r) => x.once("drain", () => r()));
    x.end(Buffer.alloc(0));
  }
  await done;
  return out;
}

/** Everything a container of IMAGE sees, from `docker export` (so both sides get the engine's own additions alike). */
export async function snapshot(image: string): Promise<Map<string, Node>> {
  const id = Bun.spawnSync(["docker", "create", image, "x"]).stdout.toString().trim();
  try {
    const proc = Bun.spawn(["docker", "export", id], { stdout: "pipe", stderr: "ignore" });
    const out = await listing(proc.stdout as unknown as AsyncIterable<Uint8Array>);
    expect(await proc.exited).toBe(0);
    return out;
  } finally {
    Bun.spawnSync(["docker", "rm", "-f", id], { stdout: "ignore", stderr: "ignore" });
  }
}
