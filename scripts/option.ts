/**
 * The value after `--name` among a script's arguments (process.argv after the script, or
 * `argv` where given), or undefined where it is absent: the one way bench/ and scripts/
 * read an option.
 */
export function option(name: string, argv = process.argv.slice(2)): string | undefined {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? argv[at + 1] : undefined;
}
