import { command, extendType, flag, number, oneOf, option, optional, positional, restPositionals, string } from "cmd-ts";
import type { PullPolicy } from "./config.ts";
import { DEFAULT_BLOCK_SIZE, defaultJobs, type GzipMode } from "./gzip.ts";
import { VERSION_TEXT } from "./version.ts";

function intIn(min: number, max: number, what: string) {
  return extendType(number, {
    async from(n) {
      if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${what} must be a whole number from ${min} to ${max}`);
      return n;
    },
  });
}

const positiveNumber = extendType(number, {
  async from(n) {
    if (!(n > 0) || !Number.isFinite(n)) throw new Error("must be a number greater than 0");
    return n;
  },
});

/** The upload command: parsing only; the handler returns the values for the cli to run. */
export const uploadCommand = command({
  name: "runtime-upload",
  version: VERSION_TEXT,
  description:
    "Stream a local Docker image to a Runtime-API and wait for the build.\n" +
    "Reads RUNTIME_API_URL and RUNTIME_API_KEY from the environment.",
  examples: [
    { description: "Upload an image with two extra tags", command: "runtime-upload my-agent:dev latest stable" },
    { description: "Upload a saved archive (no Docker engine needed)", command: "runtime-upload --input image.tar my-agent:dev" },
    { description: "Stream from another tool", command: "docker save my-agent:dev | runtime-upload --input - my-agent:dev" },
  ],
  args: {
    image: positional({ type: string, displayName: "IMAGE", description: "image to upload, as Docker names it (sent as target_image)" }),
    tags: restPositionals({ type: string, displayName: "TAG", description: "extra tags for the built image (tags_0, tags_1, …)" }),
    timeout: option({
      long: "timeout",
      type: positiveNumber,
      defaultValue: () => 30,
      defaultValueIsSerializable: true,
      description: "minutes to wait for the build to finish",
    }),
    pollInterval: option({
      long: "poll-interval",
      type: positiveNumber,
      defaultValue: () => 30,
      defaultValueIsSerializable: true,
      description: "seconds between build status checks",
    }),
    pull: option({
      long: "pull",
      type: oneOf<PullPolicy>(["missing", "always", "never"]),
      defaultValue: (): PullPolicy => "missing",
      defaultValueIsSerializable: true,
      description: "when to docker pull IMAGE first: missing|always|never",
    }),
    input: option({
      long: "input",
      short: "i",
      type: optional(string),
      description: "read a docker save archive from FILE (or - for stdin) instead of the Docker engine",
    }),
    level: option({
      long: "level",
      type: intIn(1, 9, "--level"),
      defaultValue: () => 6,
      defaultValueIsSerializable: true,
      description: "gzip level, 1 (fast) to 9 (small)",
    }),
    jobs: option({
      long: "jobs",
      short: "j",
      type: intIn(1, 256, "--jobs"),
      defaultValue: defaultJobs,
      defaultValueIsSerializable: true,
      description: "compression threads (default: CPUs)",
    }),
    gzip: option({
      long: "gzip",
      type: oneOf<GzipMode>(["parallel", "single"]),
      defaultValue: (): GzipMode => "parallel",
      defaultValueIsSerializable: true,
      description: "parallel: multi-member gzip on all cores; single: one member, one core",
    }),
    engine: option({
      long: "engine",
      type: oneOf(["docker", "podman"]),
      defaultValue: () => "docker",
      defaultValueIsSerializable: true,
      env: "RUNTIME_UPLOAD_ENGINE",
      description: "container engine CLI to save the image with",
    }),
    quiet: flag({ long: "quiet", short: "q", description: "print errors and the result only" }),
  },
  handler: (args) => ({ ...args, blockSize: DEFAULT_BLOCK_SIZE }),
});

export type UploadArgs = ReturnType<(typeof uploadCommand)["handler"]>;
