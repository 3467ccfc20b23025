// Runs main() and maps its outcome to an exit code: 2 for configuration errors, 1 for other failures.
import { ConfigError, LogFailed, UserError } from "../errors.js";

export function runCli(main: (argv: string[], env: NodeJS.ProcessEnv) => Promise<number>): void {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      if (code >= 0) process.exitCode = code;
    },
    (e: unknown) => {
      const err = e as Error & { code?: string };
      if (e instanceof ConfigError || err.code?.startsWith("ERR_PARSE_ARGS")) {
        process.stderr.write(`tugboat: ${err.message}\n`);
        process.exit(2);
      }
      if (e instanceof LogFailed || e instanceof UserError) {
        process.stderr.write(`tugboat: ${err.message}\n`);
        process.exit(1);
      }
      process.stderr.write(`tugboat: unexpected failure: ${err.stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
