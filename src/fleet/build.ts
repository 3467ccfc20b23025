// Builds the fleet side from the config: the transport (SSH or local), the journal, the staging
// repositories and the engine. Shared by `tugboat deploy|rollback|status` and the bot.

import { readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import type { Logger } from "pino";
import type { LoadedConfig } from "../config/load.js";
import { ConfigError } from "../errors.js";
import { Staging } from "../git/staging.js";
import { FleetConnections } from "./connections.js";
import { DeployEngine, type StagingPort } from "./engine.js";
import { DeployJournal } from "./journal.js";
import { KnownHosts } from "./known-hosts.js";
import { LocalShell } from "./local-shell.js";
import type { RemoteShell } from "./remote-shell.js";
import { HttpSmokeChecker } from "./smoke.js";
import { Ssh2Shell } from "./ssh2-shell.js";

export interface Fleet {
  readonly engine: DeployEngine;
  readonly staging: (app: string) => StagingPort;
  readonly journal: DeployJournal;
  readonly shell: RemoteShell;
  /**
   * For a long-running process (the bot): keeps every targeted host connected (fleet.ssh.keepConnected),
   * once started. null for the local transport or when the config turns it off; never started by the CLI.
   */
  readonly connections: FleetConnections | null;
  close(): Promise<void>;
}

export function buildFleet(loaded: LoadedConfig, dataDir: string, log: Logger, env: Readonly<Record<string, string | undefined>>): Fleet {
  const { config, secrets } = loaded;
  const inData = (p: string) => (isAbsolute(p) ? p : resolve(dataDir, p));
  let shell: RemoteShell;
  if (config.fleet.transport === "ssh") {
    const path = inData(config.fleet.ssh.knownHosts);
    let known: string;
    try {
      known = readFileSync(path, "utf8");
    } catch (e) {
      throw new ConfigError(`fleet.ssh.knownHosts: cannot read ${path} (${(e as NodeJS.ErrnoException).code}): host keys must be pinned`);
    }
    if (!secrets.sshPrivateKey && !env.SSH_AUTH_SOCK) throw new ConfigError("fleet.ssh: no privateKey configured and no ssh-agent (SSH_AUTH_SOCK)");
    shell = new Ssh2Shell({
      knownHosts: new KnownHosts(known),
      privateKey: secrets.sshPrivateKey ? Buffer.from(secrets.sshPrivateKey) : null,
      agent: env.SSH_AUTH_SOCK ?? null,
      handshakeTimeoutMs: config.fleet.ssh.handshakeTimeoutMs,
      keepaliveIntervalMs: config.fleet.ssh.keepaliveIntervalMs,
      keepaliveCountMax: config.fleet.ssh.keepaliveCountMax,
      maxHandshakes: config.fleet.ssh.maxHandshakes,
    });
  } else {
    shell = new LocalShell();
  }
  const journal = new DeployJournal(join(dataDir, "deploys.sqlite3"), () => new Date());
  const stagings = new Map<string, Staging>();
  const staging = (app: string): Staging => {
      let s = stagings.get(app);
      if (!s) {
        const a = config.apps[app]!;
        const repo = /^[a-z][a-z0-9+.-]*:\/\//i.test(a.repo) || /^[\w.-]+@[\w.-]+:/.test(a.repo) ? a.repo : inData(a.repo);
        s = new Staging({ dir: join(dataDir, "staging", app), source: repo, patchesDir: a.securityPatches ? inData(a.securityPatches) : null, timeoutMs: a.timeouts.gitSec * 1000, commitUrl: config.sal.commitUrl });
        stagings.set(app, s);
      }
      return s;
  };
  const engine = new DeployEngine({
    config,
    shell,
    journal,
    staging,
    smoke: new HttpSmokeChecker(),
    log: log.child({ component: "engine" }),
    now: () => performance.now(),
    basePath: (host, app) => (config.fleet.transport === "local" ? join(inData(config.fleet.localRoot), host.name, app.deployPath) : app.deployPath),
  });
  const connections =
    config.fleet.transport === "ssh" && config.fleet.ssh.keepConnected
      ? new FleetConnections({ shell, hosts: () => Object.keys(config.apps).flatMap((a) => engine.hosts(a)), log: log.child({ component: "fleet-connections" }), everyMs: config.fleet.ssh.reconnectSec * 1000 })
      : null;
  return {
    engine,
    staging,
    journal,
    shell,
    connections,
    async close() {
      connections?.stop();
      await shell.close();
      journal.close();
    },
  };
}
