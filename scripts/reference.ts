/**
 * Writes docs/reference.md from the definitions themselves: each command's options, their
 * defaults and environment variables (cmd-ts, through cli/command-spec.ts), the exit and
 * error codes (src/errors.ts), the --json result and the --progress json events (their
 * JSON schemas). test/reference.test.ts fails where the file is not what this writes.
 *
 *   bun scripts/reference.ts           write docs/reference.md
 *   bun scripts/reference.ts --check   exit 1 if it is stale
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { commandSpecs, ENVIRONMENT } from "../src/cli/args.ts";
import type { CommandSpec } from "../src/cli/command-spec.ts";
import { ERROR_CODES, EXIT_CODES } from "../src/errors.ts";
import progress from "../test/progress.schema.json" with { type: "json" };
import result from "../test/result.schema.json" with { type: "json" };

const ROOT = join(import.meta.dir, "..");
export const REFERENCE = join(ROOT, "docs", "reference.md");

/** A table cell: no pipe or line break breaks the row. */
const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");
const code = (text: string) => `\`${text}\``;

function commandSection(c: CommandSpec): string {
  const usage = ["runtime-upload", c.word, ...c.args.map((a) => a.usage), "[options]"].filter(Boolean).join(" ");
  const lines = [`### ${code(usage)}`, "", c.summary, ""];
  if (c.args.length > 0) {
    lines.push("| argument | meaning |", "|---|---|", ...c.args.map((a) => `| ${code(a.usage)} | ${cell(a.description)} |`), "");
  }
  lines.push("| option | value | default | environment | meaning |", "|---|---|---|---|---|");
  for (const o of c.options) {
    const value = o.value ? code(o.value) : "(a flag)";
    lines.push(
      `| ${o.names.map(code).join(", ")} | ${cell(value)} | ${o.default ? code(o.default) : ""} | ${o.env ? code(o.env) : ""} | ${cell(o.description)} |`,
    );
  }
  return lines.join("\n");
}

type Schema = { description?: string; type?: unknown; enum?: unknown[]; const?: unknown; properties?: Record<string, Schema> };
const typeOf = (s: Schema) => (s.enum ? s.enum.map((v) => JSON.stringify(v)).join(" \\| ") : [s.type].flat().filter(Boolean).join(" \\| "));

function resultSection(): string {
  const rows = Object.entries((result as unknown as { properties: Record<string, Schema> }).properties).map(
    ([name, s]) => `| ${code(name)} | ${typeOf(s)} | ${cell(s.description ?? "")} |`,
  );
  return ["| field | type | meaning |", "|---|---|---|", ...rows].join("\n");
}

function progressSection(): string {
  const events = (progress as unknown as { oneOf: Schema[] }).oneOf.map((e) => {
    const props = e.properties ?? {};
    const name = String(props.event?.const ?? "");
    const fields = Object.keys(props).filter((k) => k !== "event" && k !== "time");
    return `| ${code(name)} | ${fields.map(code).join(", ")} | ${cell(e.description ?? "")} |`;
  });
  return [cell((progress as Schema).description ?? ""), "", "| event | fields | meaning |", "|---|---|---|", ...events].join("\n");
}

export function reference(): string {
  const commands = commandSpecs();
  const optionEnv = commands.flatMap((c) => c.options.flatMap((o) => (o.env ? [[o.env, `the default of ${o.names[0]}`] as const] : [])));
  const environment = [...ENVIRONMENT, ...new Map(optionEnv)].map(([name, meaning]) => `| ${code(name)} | ${cell(meaning)} |`);
  return `${[
    "# runtime-upload reference",
    "",
    "<!-- Written by scripts/reference.ts from the command definitions: edit those, then run `bun scripts/reference.ts`. -->",
    "",
    "## Commands",
    "",
    ...commands.map((c) => `${commandSection(c)}\n`),
    "## Environment",
    "",
    "| variable | meaning |",
    "|---|---|",
    ...environment,
    "",
    "## Exit codes",
    "",
    "| code | meaning |",
    "|---|---|",
    ...EXIT_CODES.map(([n, meaning]) => `| ${n} | ${cell(meaning)} |`),
    "",
    "## Error codes",
    "",
    `The ${code("error.code")} of a failure in ${code("--json")} and in the ${code("result")} event: ${ERROR_CODES.map(code).join(", ")}.`,
    "",
    "## The `--json` result",
    "",
    "One object on stdout, the same shape for success and failure, for every command (`test/result.schema.json`).",
    "",
    resultSection(),
    "",
    "## `--progress json` events",
    "",
    progressSection(),
  ].join("\n")}\n`;
}

if (import.meta.main) {
  const text = reference();
  if (process.argv.includes("--check")) {
    if (readFileSync(REFERENCE, "utf8") !== text) {
      console.error("docs/reference.md is stale: run bun scripts/reference.ts and commit it");
      process.exit(1);
    }
  } else writeFileSync(REFERENCE, text);
}
