/**
 * What each command takes, read from its own cmd-ts definition (the help topics its --help
 * prints): completions and the generated reference are made from this, so neither can
 * drift from the parser.
 */

/** One option or flag as a user types it. */
export interface OptionSpec {
  /** The long name first (--input), then the short one (-i), where there is one. */
  names: string[];
  /** What the value is called (number, FILE, auto|docker|podman); none for a flag. */
  value?: string;
  /** The words it takes, where it takes one of a list. */
  choices?: string[];
  /** Whether its value is a path, which a shell completes from the file system. */
  path: boolean;
  description: string;
  default?: string;
  env?: string;
}

export interface CommandSpec {
  /** The word after runtime-upload (none for the upload itself). */
  word?: string;
  summary: string;
  /** Positional arguments, as usage shows them (<IMAGE>, [...TAG]). */
  args: Array<{ usage: string; description: string }>;
  options: OptionSpec[];
}

interface HelpTopic {
  category: string;
  usage: string;
  description?: string;
  defaults: string[];
}

/** What cmd-ts's own help holds: its topics, its description. */
export interface Described {
  description?: string;
  helpTopics(): HelpTopic[];
}

/** Value names that are paths (see arg-types.ts). */
const PATH_VALUES = new Set(["FILE", "PATH"]);

// biome-ignore lint/suspicious/noControlCharactersInRegex: the escape that starts a colour code
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "");

export function commandSpec(word: string | undefined, command: Described): CommandSpec {
  const topics = command.helpTopics().map((t) => ({ ...t, usage: plain(t.usage), defaults: t.defaults.map(plain) }));
  const options = topics
    .filter((t) => t.category !== "arguments")
    .map((t): OptionSpec => {
      const [, long = "", short, value] = /^(--[\w-]+)(?:, (-\w))?(?: <(.+)>)?$/.exec(t.usage) ?? [];
      const fallback = t.defaults.find((d) => d.startsWith("default: "))?.slice("default: ".length);
      const env = t.defaults
        .find((d) => d.startsWith("env: "))
        ?.slice("env: ".length)
        .split("=")[0];
      return {
        names: short ? [long, short] : [long],
        ...(value ? { value } : {}),
        ...(value?.includes("|") ? { choices: value.split("|") } : {}),
        path: value !== undefined && PATH_VALUES.has(value),
        description: t.description ?? "",
        ...(fallback !== undefined ? { default: fallback } : {}),
        ...(env ? { env } : {}),
      };
    });
  const args = topics.filter((t) => t.category === "arguments").map((t) => ({ usage: t.usage, description: t.description ?? "" }));
  return { ...(word ? { word } : {}), summary: (command.description ?? "").split("\n")[0] ?? "", args, options };
}
