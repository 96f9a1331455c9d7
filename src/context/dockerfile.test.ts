import { describe, expect, test } from "bun:test";
import { UploadError } from "../errors.ts";
import { carriesTriggers, dockerfile, layeredDockerfile, platformNote, RM_ARGS_BYTES } from "./dockerfile.ts";

const lines = (config: Record<string, unknown>) => dockerfile(config, "img:1", undefined).trim().split("\n");

describe("an image config as Dockerfile instructions", () => {
  test.each([
    [
      "a value with quotes, $ and backslashes is quoted so the lexer gives it back",
      { Env: ['A=x "y" $Z \\ w'] },
      'ENV "A"="x \\"y\\" \\$Z \\\\ w"',
    ],
    ["an empty value stays empty", { Env: ["E="] }, 'ENV "E"=""'],
    [
      "a shell healthcheck keeps its command line",
      { Healthcheck: { Test: ["CMD-SHELL", "curl -f http://x/ || exit 1"] } },
      "HEALTHCHECK CMD curl -f http://x/ || exit 1",
    ],
    ["HEALTHCHECK NONE", { Healthcheck: { Test: ["NONE"] } }, "HEALTHCHECK NONE"],
    [
      "durations that are not whole seconds stay exact",
      { Healthcheck: { Test: ["CMD", "x"], Interval: 1_500_000_000, Timeout: 1_234, Retries: 2 } },
      'HEALTHCHECK --interval=1500ms --timeout=1234ns --retries=2 CMD ["x"]',
    ],
    ["an empty ENTRYPOINT is kept as one", { Entrypoint: [] }, "ENTRYPOINT []"],
    ["a volume with a $ is escaped for the expansion VOLUME does", { Volumes: { "/a$b": {} } }, 'VOLUME ["/a\\\\$b"]'],
    ["ONBUILD triggers are written as they were given", { OnBuild: ["RUN echo $HOME"] }, "ONBUILD RUN echo $HOME"],
  ])("%s", (_what, config, line) => {
    expect(lines(config)).toContain(line);
  });

  test("FROM scratch comes first, then the root filesystem, ENTRYPOINT before CMD", () => {
    const l = lines({ Cmd: ["c"], Entrypoint: ["e"] });
    expect(l.slice(0, 1)).toEqual(["FROM scratch"]);
    expect(l).toContain("ADD rootfs.tar /");
    expect(l.indexOf('ENTRYPOINT ["e"]')).toBeLessThan(l.indexOf('CMD ["c"]'));
  });

  test("nothing is written for fields the image does not set", () => {
    expect(lines({ WorkingDir: "", User: "", Cmd: null })).toEqual(lines({}));
  });

  test.each([
    ["ENV", { Env: ["A=one\ntwo"] }],
    ["LABEL", { Labels: { a: "x\ny" } }],
    ["HEALTHCHECK command", { Healthcheck: { Test: ["CMD-SHELL", "a\nb"] } }],
  ])("a line break in %s cannot be carried: a clear error, not a different image", (what, config) => {
    let error: unknown;
    try {
      dockerfile(config, "img:1", undefined);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UploadError);
    expect((error as UploadError).message).toContain(`the image's ${what}`);
    expect((error as UploadError).hint).toContain("--context image");
  });
});

describe("the FROM lines and the deletions a context runs", () => {
  test.each([
    ["flattened on scratch", dockerfile({}, "img:1", "linux/arm64/v8"), "FROM --platform=linux/arm64/v8 scratch"],
    [
      "flattened on a base",
      dockerfile(undefined, "img:1", "linux/arm64/v8", { from: "reg/b:1", removals: [] }),
      "FROM --platform=linux/arm64/v8 reg/b:1",
    ],
    ["layered on a base", layeredDockerfile("reg/b:1", [2], undefined, "img:1", "linux/s390x"), "FROM --platform=linux/s390x reg/b:1"],
    ["with no platform known", layeredDockerfile("reg/b:1", [2], undefined, "img:1", undefined), "FROM reg/b:1"],
  ])("%s: the FROM names the image's platform", (_what, text, from) => {
    expect(text.split("\n")[0]).toBe(from);
  });

  test("a platform other than linux/amd64 is said once, with what a classic builder does", () => {
    expect(platformNote("linux/amd64")).toBeUndefined();
    expect(platformNote("linux/arm64/v8")).toContain(
      "a classic builder (and Docker 20.10's BuildKit) labels the image with its own platform",
    );
  });

  test("2,600 deleted paths of 1 KB go in as many RUN steps as keep each well under the kernel's argument limit, each path once", () => {
    const paths = Array.from({ length: 2600 }, (_, i) => `/app/${String(i).padStart(4, "0")}/${"p".repeat(1000)}.pyc`);
    const text = dockerfile(undefined, "img:1", undefined, { from: "reg/b:1", removals: paths, rm: "/bin/rm" });
    const steps = text
      .split("\nRUN ")
      .slice(1)
      .map((step) => JSON.parse(step.slice(0, step.indexOf("]") + 1).replaceAll("\\\n", "")) as string[]);
    expect(steps.length).toBeGreaterThan(1);
    for (const argv of steps) {
      expect(argv.slice(0, 3)).toEqual(["/bin/rm", "-rf", "--"]);
      expect(argv.reduce((n, a) => n + Buffer.byteLength(a) + 1 + 8, 0)).toBeLessThanOrEqual(RM_ARGS_BYTES);
    }
    expect(steps.flatMap((argv) => argv.slice(3))).toEqual(paths);
  });

  test("a deleted path with a line break is carried in the exec form's JSON, on no line of its own", () => {
    const text = dockerfile(undefined, "img:1", undefined, { from: "reg/b:1", removals: ["/data/new\nline"], rm: "/bin/rm" });
    expect(text.split("\n")).toContain('RUN ["/bin/rm", "-rf", "--", "/data/new\\nline"]');
  });

  test.each([
    [{ OnBuild: ["RUN rm /data/keep"] }, true],
    [{ OnBuild: [] }, false],
    [{ OnBuild: null }, false],
    [{}, false],
  ])("ONBUILD triggers in %j: %p", (config, carries) => {
    expect(carriesTriggers(config)).toBe(carries);
  });
});
