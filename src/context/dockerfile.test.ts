import { describe, expect, test } from "bun:test";
import { UploadError } from "../errors.ts";
import { dockerfile } from "./dockerfile.ts";

const lines = (config: Record<string, unknown>) => dockerfile(config, "img:1").trim().split("\n");

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
      dockerfile(config, "img:1");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UploadError);
    expect((error as UploadError).message).toContain(`the image's ${what}`);
    expect((error as UploadError).hint).toContain("--context image");
  });
});
