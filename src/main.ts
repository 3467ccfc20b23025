// The composition root: reads the environment and arguments, loads the config, builds the adapters,
// wires the app, handles signals. Subcommands: start (the bot), log (a SAL entry via the API), check-config.

import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadConfig, parseConfigText } from "./config/load.js";
import { ConfigError } from "./errors.js";
import { ensureDemoRepo } from "./fleet/demo.js";

const HELP = `tugboat: chat-ops for deployers, and the Server Admin Log

Usage: tugboat [--config FILE] [--data-dir DIR] COMMAND [ARGS]

Commands:
  start                 run the bot (with no config: a terminal chat, the SAL in SQLite, web UI on 127.0.0.1:8080)
  log MESSAGE           write a SAL entry through the bot's HTTP API (retries; exits non-zero if it fails)
                          --url URL (TUGBOAT_URL), --token-file FILE (TUGBOAT_TOKEN), --project P, --nick N, --channel C,
                          --tries N (attempts before giving up; default 5)
  deploy APP [REF] -m REASON     ship REF (default: the app's branch) to the app's hosts, canaries first
  rollback APP [REV] -m REASON   switch back to the previous release (or REV) on every host, in seconds
  status APP            what every host runs, drift against the journal, running deploys and locks
  lock APP|all -m REASON    stop others deploying APP (all: a global freeze); unlock APP|all lifts it
                          and clears a stale deploy whose process died
  check-config          validate the configuration and exit (exit code 2 when it is invalid)

Options:
  --config FILE         YAML or JSON configuration (also TUGBOAT_CONFIG); default: the embedded default
  --data-dir DIR        where state lives (also TUGBOAT_DATA_DIR); default: $XDG_STATE_HOME/tugboat or ~/.local/state/tugboat
  -h, --help            this help
  -v, --version         the version
`;

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find tugboat's package.json");
    dir = up;
  }
  return dir;
}

function readConfigFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function dataDirFrom(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag) return resolve(flag);
  if (env.TUGBOAT_DATA_DIR) return resolve(env.TUGBOAT_DATA_DIR);
  return join(env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "tugboat");
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: "string" },
      "data-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
      url: { type: "string" },
      "token-file": { type: "string" },
      project: { type: "string" },
      nick: { type: "string" },
      channel: { type: "string" },
      tries: { type: "string" },
      message: { type: "string", short: "m" },
    },
  });
  const root = packageRoot();
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${(JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version}\n`);
    return 0;
  }
  const [command = "start", ...rest] = positionals;
  const dataDir = dataDirFrom(values["data-dir"], env);
  const configPath = values.config ?? env.TUGBOAT_CONFIG ?? null;
  const defaultPath = join(root, "config", "default.yaml");
  const prepareDataDir = () => {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // The embedded default's API token, created once so local scripts can log at once.
    const tokenFile = join(dataDir, "api-token");
    if (configPath === null && !existsSync(tokenFile)) writeFileSync(tokenFile, `${randomBytes(24).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
    if (configPath === null) ensureDemoRepo(join(dataDir, "demo-repo"));
  };
  const load = () => loadConfig(configPath ? resolve(configPath) : null, defaultPath, { env, readFile: (p) => readFileSync(p, "utf8"), dataDir });

  switch (command) {
    case "start": {
      if (rest.length) throw new ConfigError(`start takes no arguments (got ${rest.join(" ")})`);
      prepareDataDir();
      await (await import("./run-bot.js")).runBot(load(), dataDir, env);
      return -1; // keep running
    }
    case "check-config": {
      // The embedded default names the api-token that start creates; create it here too, or a fresh
      // install's check would call the default invalid.
      if (configPath === null) prepareDataDir();
      const loaded = load();
      process.stdout.write(`${loaded.source}: configuration is valid (chat: ${loaded.config.chat})\n`);
      return 0;
    }
    case "log": {
      const message = rest.join(" ");
      const tries = values.tries === undefined ? 5 : Number(values.tries);
      if (!Number.isInteger(tries) || tries < 1 || tries > 100) throw new ConfigError(`--tries must be a whole number from 1 to 100 (got ${values.tries})`);
      let url = values.url ?? env.TUGBOAT_URL;
      let token = env.TUGBOAT_TOKEN;
      const tokenFile = values["token-file"] ?? (token ? undefined : join(dataDir, "api-token"));
      if (tokenFile) {
        try {
          token = readFileSync(tokenFile, "utf8").trim();
        } catch (e) {
          throw new ConfigError(`cannot read the API token from ${tokenFile} (${(e as NodeJS.ErrnoException).code}); set TUGBOAT_TOKEN or --token-file`);
        }
      }
      if (!url) {
        // Only the bot's address is needed, so its secrets (IRC passwords, other scripts' tokens) are not
        // resolved: a script's user need not be able to read them.
        const config = configPath ? parseConfigText(readConfigFile(resolve(configPath)), resolve(configPath)) : null;
        url = config?.web.publicUrl ?? `http://127.0.0.1:${config?.web.port ?? 8080}`;
      }
      const { postLogEntry } = await import("./cli/log-client.js");
      const result = await postLogEntry({
        url,
        token: token ?? "",
        tries,
        body: { message, ...(values.project ? { project: values.project } : {}), ...(values.nick ? { nick: values.nick } : {}), ...(values.channel ? { channel: values.channel } : {}), idempotencyKey: randomUUID() },
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`Logged the message at ${result.url}\n`);
      return 0;
    }
    case "deploy":
    case "rollback":
    case "status":
    case "lock":
    case "unlock": {
      if (configPath === null) prepareDataDir();
      const { fleetCommand } = await import("./cli/fleet-commands.js");
      return fleetCommand(command, rest, values.message, { loaded: load(), dataDir, env, out: process.stdout, nick: values.nick ?? env.SUDO_USER ?? env.USER ?? userInfo().username });
    }
    default:
      throw new ConfigError(`unknown command "${command}" (see tugboat --help)`);
  }
}
