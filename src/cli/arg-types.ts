/**
 * The kinds of value the command line takes, each refusing what it cannot mean: an image
 * name that looks like an option, a tag that is not a Docker tag, an empty path, a number
 * out of range, a word not in its list.
 */
import { extendType, number, oneOf, option, string } from "cmd-ts";
import type { Level } from "../gzip/gzip.ts";
import { parsePlatform } from "../source/oci-index.ts";

const isWholeIn = (n: number, min: number, max: number) => Number.isInteger(n) && n >= min && n <= max;

export function intIn(min: number, max: number, what: string) {
  return extendType(number, {
    async from(n) {
      if (!isWholeIn(n, min, max)) throw new Error(`${what} must be a whole number from ${min} to ${max}`);
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

/** An image name the engine cannot mistake for an option. */
export const imageName = extendType(string, {
  async from(s) {
    if (s.startsWith("-")) throw new Error(`"${s}" is not an image name (it starts with -): put options after a valid IMAGE`);
    if (!s.trim()) throw new Error("the image name is empty");
    return s;
  },
});

/**
 * A tag as Docker takes one: word characters, dots and dashes, at most 128, starting with
 * a word character. So nothing that reaches the tags (a branch name in CI, say) is read
 * as an option or smuggles a registry into the name.
 */
export const tagName = extendType(string, {
  async from(s) {
    if (!/^\w[\w.-]{0,127}$/.test(s)) {
      throw new Error(`"${s}" is not a Docker tag (letters, digits, _ . and -, at most 128, starting with a letter, digit or _)`);
    }
    return s;
  },
});

/** An empty path (an unset variable in a script) must not quietly mean something else. Its name says a shell completes it from the file system. */
export function pathArg(flag: string, what: string, name: "FILE" | "PATH" = "FILE") {
  return extendType(string, {
    displayName: name,
    async from(s) {
      if (!s) throw new Error(`${flag} is empty: pass ${what} (an unset shell variable?)`);
      return s;
    },
  });
}

export function numberOption(long: string, fallback: number, description: string) {
  return option({ long, type: positiveNumber, defaultValue: () => fallback, defaultValueIsSerializable: true, description });
}

/** A path that may be anything (an empty one included: an unset SSL_CERT_FILE is not asked for). */
export const fileName = extendType(string, { displayName: "FILE", from: async (s) => s });

/** One of a fixed set of words, named by them in help and completions (auto|docker|podman). */
export const choice = <T extends string>(choices: readonly [T, ...T[]]) => ({ ...oneOf<T>(choices), displayName: choices.join("|") });

/** One of a fixed set of words; the first is the default. */
export function choiceOption<T extends string>(long: string, choices: readonly [T, ...T[]], description: string, env?: string) {
  return option({
    long,
    type: choice(choices),
    defaultValue: (): T => choices[0],
    defaultValueIsSerializable: true,
    description,
    ...(env ? { env } : {}),
  });
}

/** os/arch[/variant], as --platform takes it. */
export const platformArg = extendType(string, { from: async (s) => parsePlatform(s) });

/** --level: a level from `min` to `max`, or auto (each block's chosen as the upload runs). */
export function levelArg(min: number, max: number) {
  return extendType(string, {
    // Each value a word, so a shell completes them all.
    displayName: ["auto", ...Array.from({ length: max - min + 1 }, (_, i) => min + i)].join("|"),
    async from(s): Promise<Level> {
      if (s === "auto") return "auto";
      const n = Number(s);
      if (s.trim() === "" || !isWholeIn(n, min, max)) throw new Error(`--level must be auto or a whole number from ${min} to ${max}`);
      return n;
    },
  });
}
