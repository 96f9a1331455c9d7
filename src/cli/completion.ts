/**
 * `runtime-upload completion bash|zsh|fish`: a completion script for each shell, written
 * from the commands' own definitions (command-spec.ts): every command word, every option,
 * the words an option takes, and file names where it takes a path.
 */
import { SHELLS } from "./args.ts";
import type { CommandSpec, OptionSpec } from "./command-spec.ts";

const BIN = "runtime-upload";
const FN = "_runtime_upload";

const words = (commands: CommandSpec[]) => commands.flatMap((c) => (c.word ? [c.word] : []));
const keyOf = (c: CommandSpec) => c.word ?? "upload";

/** A word inside single quotes, for bash and zsh. */
const quoted = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

function bash(commands: CommandSpec[]): string {
  const cases: string[] = [];
  for (const c of commands) {
    for (const o of c.options.filter((o) => o.value)) {
      const reply = o.path
        ? `compopt -o filenames; COMPREPLY=($(compgen -f -- "$cur"))`
        : o.choices
          ? `COMPREPLY=($(compgen -W ${quoted(o.choices.join(" "))} -- "$cur"))`
          : "COMPREPLY=()";
      cases.push(`    ${o.names.map((n) => quoted(`${keyOf(c)} ${n}`)).join("|")}) ${reply}; return ;;`);
    }
  }
  const optionsOf = commands.map(
    (c) => `    ${keyOf(c)}) COMPREPLY=($(compgen -W ${quoted(c.options.flatMap((o) => o.names).join(" "))} -- "$cur")) ;;`,
  );
  return `# ${BIN} completion for bash: source <(${BIN} completion bash)
${FN}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} command=upload
  case \${COMP_WORDS[1]} in ${words(commands).join("|")}) command=\${COMP_WORDS[1]} ;; esac
  case "$command $prev" in
${cases.join("\n")}
  esac
  if [[ $cur == -* ]]; then
    case $command in
${optionsOf.map((l) => `  ${l}`).join("\n")}
    esac
  elif [[ $command == upload && $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W ${quoted(words(commands).join(" "))} -- "$cur"))
  elif [[ $command == completion && $COMP_CWORD -eq 2 ]]; then
    COMPREPLY=($(compgen -W ${quoted(SHELLS.join(" "))} -- "$cur"))
  fi
}
complete -F ${FN} ${BIN}
`;
}

/** An _arguments spec: the option, its description in brackets, then its value's message and action. */
function zshSpec(o: OptionSpec, name: string): string {
  const about = o.description.replace(/[[\]:\\]/g, "\\$&");
  const value = !o.value ? "" : `:${o.value.replace(/[:\\]/g, "\\$&")}:${o.path ? "_files" : o.choices ? `(${o.choices.join(" ")})` : " "}`;
  return quoted(`${name}[${about}]${value}`);
}

function zsh(commands: CommandSpec[]): string {
  const cases = commands.map((c) => {
    const specs = c.options.flatMap((o) => o.names.map((n) => zshSpec(o, n)));
    // Words with nothing to offer (a tag, a build ID) get no spec: a spec with none makes zsh list where it would complete.
    const rest =
      c.word === undefined
        ? [quoted(`1:image or command:(${words(commands).join(" ")})`)]
        : c.word === "completion"
          ? [quoted(`1:shell:(${SHELLS.join(" ")})`)]
          : [];
    return `    ${keyOf(c)}) _arguments -s -S \\\n      ${[...specs, ...rest].join(" \\\n      ")} ;;`;
  });
  return `#compdef ${BIN}
# ${BIN} completion for zsh: source <(${BIN} completion zsh), or save it as _${BIN} in $fpath
${FN}() {
  local command=upload
  case $words[2] in
    ${words(commands).join("|")}) command=$words[2]; shift words; (( CURRENT-- )) ;;
  esac
  case $command in
${cases.join("\n")}
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then ${FN} "$@"; else compdef ${FN} ${BIN}; fi
`;
}

function fish(commands: CommandSpec[]): string {
  const all = words(commands).join(" ");
  const text = (s: string) => `'${s.replace(/[\\']/g, "\\$&")}'`;
  const lines = [
    `# ${BIN} completion for fish: ${BIN} completion fish | source`,
    `complete -c ${BIN} -f`,
    `complete -c ${BIN} -n ${text(`not __fish_seen_subcommand_from ${all}`)} -a ${text(all)}`,
    `complete -c ${BIN} -n ${text("__fish_seen_subcommand_from completion")} -a ${text(SHELLS.join(" "))}`,
  ];
  for (const c of commands) {
    const when = c.word ? `__fish_seen_subcommand_from ${c.word}` : `not __fish_seen_subcommand_from ${all}`;
    for (const o of c.options) {
      const names = o.names.map((n) => (n.startsWith("--") ? `-l ${n.slice(2)}` : `-s ${n.slice(1)}`)).join(" ");
      const value = !o.value ? "" : o.path ? " -r -F" : o.choices ? ` -x -a ${text(o.choices.join(" "))}` : " -x";
      lines.push(`complete -c ${BIN} -n ${text(when)} ${names}${value} -d ${text(o.description)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export function completionScript(shell: (typeof SHELLS)[number], commands: CommandSpec[]): string {
  return { bash, zsh, fish }[shell](commands);
}
