// Loads the configuration: YAML or JSON from a file (or the embedded default), validated by the schema,
// secrets resolved from the environment or files, and frozen. Errors name the key path (ConfigError).

import { isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import { ConfigSchema, type Config, type SecretRef } from "./schema.js";

export interface Secrets {
  ircPassword: string | null;
  saslPassword: string | null;
  nickservPassword: string | null;
  apiTokens: ReadonlyArray<{ readonly name: string; readonly token: string }>;
  /** The deploy key (PEM/OpenSSH text) when fleet.ssh.privateKey is set; else the ssh-agent is used. */
  sshPrivateKey: string | null;
  /** Per alert receiver (by name): its bearer token or HMAC key. */
  alertReceivers?: ReadonlyArray<{ readonly name: string; readonly kind: "bearer" | "hmac"; readonly secret: string }>;
  alertmanagerBearer?: string | null;
  /** The Grafana API token when metrics.grafana is set (deploy annotations). */
  grafanaToken?: string | null;
}

export interface LoadedConfig {
  readonly config: Config;
  readonly secrets: Secrets;
  /** Where the config came from, for logs: a path or "embedded default". */
  readonly source: string;
}

export interface LoadDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => string;
  /** Relative secret file paths are resolved against the data directory. */
  readonly dataDir: string;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export function parseConfigText(text: string, source: string): Config {
  let raw: unknown;
  try {
    raw = source.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${source}: not valid ${source.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message}`);
  }
  const result = ConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    throw new ConfigError(`${source}: invalid configuration\n${z.prettifyError(result.error)}`);
  }
  return result.data;
}

function resolveSecret(ref: SecretRef, where: string, deps: LoadDeps): string {
  if ("env" in ref) {
    const value = deps.env[ref.env];
    if (value === undefined || value === "") throw new ConfigError(`${where}: environment variable ${ref.env} is not set`);
    return value;
  }
  const path = isAbsolute(ref.file) ? ref.file : resolve(deps.dataDir, ref.file);
  let text: string;
  try {
    text = deps.readFile(path);
  } catch (e) {
    throw new ConfigError(`${where}: cannot read secret file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const value = text.trim();
  if (value === "") throw new ConfigError(`${where}: secret file ${path} is empty`);
  return value;
}

export function loadConfig(path: string | null, defaultPath: string, deps: LoadDeps): LoadedConfig {
  const file = path ?? defaultPath;
  let text: string;
  try {
    text = deps.readFile(file);
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const config = parseConfigText(text, file);
  const irc = config.chat === "irc" ? config.irc : undefined;
  const secrets: Secrets = {
    ircPassword: irc?.password ? resolveSecret(irc.password, "irc.password", deps) : null,
    saslPassword: irc?.sasl ? resolveSecret(irc.sasl.password, "irc.sasl.password", deps) : null,
    nickservPassword: irc?.nickserv ? resolveSecret(irc.nickserv.password, "irc.nickserv.password", deps) : null,
    apiTokens: config.api.tokens.map((t, i) => ({ name: t.name, token: resolveSecret(t.token, `api.tokens.${i}.token`, deps) })),
    alertReceivers: config.alerts.receivers.map((r, i) =>
      "bearer" in r.auth ? { name: r.name, kind: "bearer" as const, secret: resolveSecret(r.auth.bearer, `alerts.receivers.${i}.auth.bearer`, deps) } : { name: r.name, kind: "hmac" as const, secret: resolveSecret(r.auth.hmac, `alerts.receivers.${i}.auth.hmac`, deps) },
    ),
    alertmanagerBearer: config.alerts.alertmanager?.bearer ? resolveSecret(config.alerts.alertmanager.bearer, "alerts.alertmanager.bearer", deps) : null,
    sshPrivateKey: config.fleet.transport === "ssh" && config.fleet.ssh.privateKey ? resolveSecret(config.fleet.ssh.privateKey, "fleet.ssh.privateKey", deps) + "\n" : null,
    grafanaToken: config.metrics.grafana ? resolveSecret(config.metrics.grafana.token, "metrics.grafana.token", deps) : null,
  };
  return deepFreeze({ config, secrets, source: path ?? "embedded default" });
}
