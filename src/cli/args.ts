import { command, flag, option, optional, positional, restPositionals, runSafely, string } from "cmd-ts";
import { FORM_SHAPES } from "../api/multipart.ts";
import { defaultJobs } from "../gzip/cpus.ts";
import { GZIP_MODES, type Level } from "../gzip/gzip.ts";
import { MAX_LEVEL, MIN_LEVEL } from "../gzip/level-control.ts";
import { CONTEXTS, PULL_POLICIES, REUSE_MODES } from "../job/job.ts";
import { VERSION_TEXT } from "../lib/version.ts";
import { ENGINES } from "../source/engine.ts";
import { choice, choiceOption, fileName, imageName, intIn, levelArg, numberOption, pathArg, platformArg, tagName } from "./arg-types.ts";
import { type CommandSpec, commandSpec } from "./command-spec.ts";
import { PROGRESS_MODES } from "./output.ts";

/** How to reach the API: shared by every command. */
const keyArgs = {
  apiKeyFile: option({
    long: "api-key-file",
    type: optional(fileName),
    description: "read the API key from FILE instead of RUNTIME_API_KEY",
  }),
  apiKeyStdin: flag({ long: "api-key-stdin", description: "read the API key from standard input" }),
  cacert: option({
    long: "cacert",
    type: optional(fileName),
    env: "SSL_CERT_FILE",
    description: "trust the CA certificates (PEM) in FILE, for a private CA",
  }),
  insecure: flag({ long: "insecure", description: "do not verify the server's TLS certificate (unsafe: for tests only)" }),
};

/** How to wait for a build: shared by the upload and `wait`. */
const waitArgs = {
  timeout: numberOption("timeout", 30, "minutes to wait for the build to finish"),
  pollInterval: numberOption("poll-interval", 30, "seconds between build status checks"),
};

const quiet = flag({ long: "quiet", short: "q", description: "print errors and the result only" });
const json = flag({ long: "json", description: "print one JSON object with the result on stdout, success or failure" });

/** The environment the tool reads besides its options' own (--engine's, --cacert's): the reference lists it. */
export const ENVIRONMENT: ReadonlyArray<readonly [string, string]> = [
  ["RUNTIME_API_URL", "the Runtime-API's base URL (required, but for a dry run)"],
  ["RUNTIME_API_KEY", "the API key, sent as X-API-Key to RUNTIME_API_URL's origin only (or --api-key-file / --api-key-stdin)"],
  ["HTTPS_PROXY, HTTP_PROXY, NO_PROXY", "a proxy for the API's requests, as curl reads them"],
  ["NO_COLOR", "no colour in the human output"],
];

const ENV_HELP = "Environment: RUNTIME_API_URL (required), RUNTIME_API_KEY (or --api-key-file / --api-key-stdin).";

/** The upload command: parsing only; the handler returns the values for the cli to run. */
const uploadParser = command({
  name: "runtime-upload",
  version: VERSION_TEXT,
  description:
    "Stream a local Docker image to a Runtime-API and wait for the build.\n\n" +
    "USAGE:\n" +
    "  runtime-upload IMAGE [TAG...] [options]\n" +
    "  runtime-upload status BUILD_ID     check a build once\n" +
    "  runtime-upload wait BUILD_ID       resume waiting for a build\n" +
    "  runtime-upload completion SHELL    print the completion script for bash, zsh or fish\n\n" +
    ENV_HELP,
  examples: [
    { description: "Upload an image with two extra tags", command: "runtime-upload my-agent:dev latest stable" },
    { description: "Upload a saved archive (no Docker engine needed)", command: "runtime-upload --input image.tar my-agent:dev" },
    { description: "Stream from another tool", command: "docker save my-agent:dev | runtime-upload --input - my-agent:dev" },
    {
      description: "A server that builds a Dockerfile context (OpenHands)",
      command: "runtime-upload --form openhands --context dockerfile my-agent:dev",
    },
  ],
  args: {
    image: positional({ type: imageName, displayName: "IMAGE", description: "image to upload, as Docker names it (sent as target_image)" }),
    tags: restPositionals({ type: tagName, displayName: "TAG", description: "extra tags for the built image (tags_0, tags_1, …)" }),
    ...waitArgs,
    pull: choiceOption("pull", PULL_POLICIES, "when to docker pull IMAGE first: missing|always|never"),
    input: option({
      long: "input",
      short: "i",
      type: optional(pathArg("--input", "a FILE, a DIR or - for stdin", "PATH")),
      description: "read the image from a docker save/OCI archive FILE, an OCI layout DIR, or - (stdin) instead of the engine",
    }),
    retries: option({
      long: "retries",
      type: intIn(0, 100, "--retries"),
      defaultValue: () => 5,
      defaultValueIsSerializable: true,
      description: "retries of a failed upload (429, 408, 425, 500, 502-504, resets, stalls), with backoff and Retry-After",
    }),
    stallTimeout: numberOption("stall-timeout", 120, "seconds without upload progress before the attempt is aborted and retried"),
    responseTimeout: numberOption(
      "response-timeout",
      300,
      "seconds to wait for /build's answer once the whole image is sent (then it fails, never re-uploads)",
    ),
    level: option({
      long: "level",
      type: levelArg(MIN_LEVEL, MAX_LEVEL),
      defaultValue: (): Level => 6,
      defaultValueIsSerializable: true,
      description:
        "gzip level, 1 (fast) to 12 (small); 0 stores without compressing (blocks that do not compress are stored at any level); auto chooses each block's as the upload runs, from what limits it (the cores, the link, the input)",
    }),
    jobs: option({
      long: "jobs",
      short: "j",
      type: intIn(1, 256, "--jobs"),
      defaultValue: defaultJobs,
      // The machine's own: not a number the help, the reference or a completion can state.
      defaultValueIsSerializable: false,
      description: "compression workers (default: the usable CPUs, a cgroup quota included, at most 8)",
    }),
    gzip: choiceOption("gzip", GZIP_MODES, "parallel: multi-member gzip on all cores; single: one member, one core"),
    engine: choiceOption("engine", ENGINES, "container engine CLI: auto (docker, else podman), docker or podman", "RUNTIME_UPLOAD_ENGINE"),
    form: choiceOption("form", FORM_SHAPES, "request shape: runtime (original uploader) or openhands (base64 context, repeated tags)"),
    platform: option({
      long: "platform",
      type: optional(platformArg),
      description: "send only os/arch[/variant] of a multi-platform image (an OCI layout or archive; the engine needs API 1.48+)",
    }),
    registryPrefix: option({
      long: "registry-prefix",
      type: optional(string),
      description:
        "auto (ask GET /registry_prefix and build PREFIX/IMAGE), none (IMAGE as given) or a PREFIX; default: none, auto with --form openhands",
    }),
    context: choiceOption(
      "context",
      CONTEXTS,
      "what is sent: image (the docker save archive) or dockerfile (a Dockerfile build context that rebuilds it, for builder servers)",
    ),
    reuse: choiceOption(
      "reuse",
      REUSE_MODES,
      "with --context dockerfile: auto (send only the layers above a base the server's registry has) or never (the whole image)",
    ),
    output: option({
      long: "output",
      short: "o",
      type: optional(pathArg("--output", "a FILE")),
      description: "with --dry-run: also write the gzip'd body to FILE (a --context dockerfile one builds with docker build - < FILE)",
    }),
    skipExisting: flag({ long: "skip-existing", description: "ask GET /image_exists first and skip the upload if IMAGE is there" }),
    dryRun: flag({
      long: "dry-run",
      description:
        "compress into a null sink and report size, ratio, digest, speed (needs no credentials; with them and --context dockerfile, asks what layers the server has)",
    }),
    json,
    progress: choiceOption(
      "progress",
      PROGRESS_MODES,
      "auto (a live bar at a terminal, plain lines elsewhere), plain (lines only), json (one JSON event a line on stderr, test/progress.schema.json)",
    ),
    ...keyArgs,
    quiet,
  },
  handler: (args) => ({ command: "upload" as const, ...args }),
});

const buildId = positional({ type: string, displayName: "BUILD_ID", description: "the ID printed when the build was started" });

const statusParser = command({
  name: "runtime-upload status",
  version: VERSION_TEXT,
  description: `Check a build once and print its status on stdout. Exits 1 if the build failed.\n${ENV_HELP}`,
  examples: [{ description: "Check a build", command: "runtime-upload status 0f6c…" }],
  args: { buildId, ...keyArgs, quiet, json },
  handler: (args) => ({ command: "status" as const, ...args }),
});

const waitParser = command({
  name: "runtime-upload wait",
  version: VERSION_TEXT,
  description: `Wait for a build started earlier (after Ctrl-C or a timeout), like the upload does.\n${ENV_HELP}`,
  examples: [{ description: "Resume waiting for a build", command: "runtime-upload wait 0f6c… --timeout 60" }],
  args: { buildId, ...waitArgs, ...keyArgs, quiet, json },
  handler: (args) => ({ command: "wait" as const, ...args }),
});

/** The shells `completion` writes a script for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;

const completionParser = command({
  name: "runtime-upload completion",
  version: VERSION_TEXT,
  description: "Print the shell completion script for bash, zsh or fish.",
  examples: [
    { description: "bash, for this shell", command: "source <(runtime-upload completion bash)" },
    {
      description: "zsh, for every new shell",
      command: "runtime-upload completion zsh > ~/.zfunc/_runtime-upload  # with fpath+=(~/.zfunc) before compinit",
    },
    {
      description: "fish, for every new shell",
      command: "runtime-upload completion fish > ~/.config/fish/completions/runtime-upload.fish",
    },
  ],
  args: { shell: positional({ type: choice(SHELLS), displayName: "SHELL", description: "bash, zsh or fish" }) },
  handler: (args) => ({ command: "completion" as const, ...args }),
});

/** Every command as its definition says (see command-spec.ts): the upload first, then each by its word. */
export function commandSpecs(): CommandSpec[] {
  return [
    commandSpec(undefined, uploadParser),
    commandSpec("status", statusParser),
    commandSpec("wait", waitParser),
    commandSpec("completion", completionParser),
  ];
}

export type UploadArgs = ReturnType<(typeof uploadParser)["handler"]>;
type CompletionArgs = ReturnType<(typeof completionParser)["handler"]>;
export type StatusArgs = ReturnType<(typeof statusParser)["handler"]>;
export type WaitArgs = ReturnType<(typeof waitParser)["handler"]>;

export type Parsed =
  | { kind: "run"; args: UploadArgs | StatusArgs | WaitArgs | CompletionArgs }
  /** Help, version or a usage error: cmd-ts's own text, and the exit code that goes with it. */
  | { kind: "text"; text: string; toStdout: boolean; code: 0 | 2 };

export async function parse(argv: string[]): Promise<Parsed> {
  const [first, ...rest] = argv;
  const r =
    first === "status"
      ? await runSafely(statusParser, rest)
      : first === "wait"
        ? await runSafely(waitParser, rest)
        : first === "completion"
          ? await runSafely(completionParser, rest)
          : await runSafely(uploadParser, argv);
  if (r._tag === "ok") return { kind: "run", args: r.value };
  const { exitCode, message, into } = r.error.config;
  return { kind: "text", text: message, toStdout: into === "stdout", code: exitCode === 0 ? 0 : 2 };
}
