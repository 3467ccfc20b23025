// The one helper that puts a value into a POSIX shell command line: every argument single-quoted.
// Only tugboat's own fixed scripts and validated values pass through it; user text never does.

/** Quotes one argument for /bin/sh: 'it'\''s' style. NUL cannot be passed through a shell at all. */
export function shellQuote(arg: string): string {
  if (arg.includes("\0")) throw new Error("a shell argument cannot contain NUL");
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** A whole command line from argv, each element quoted. */
export function shellCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}
