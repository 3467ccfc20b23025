// Builds a DeployEngine for tests: real staging repo and journal in temp dirs, a given RemoteShell.
import { join } from "node:path";
import { pino } from "pino";
import { parseConfigText } from "../../src/config/load.js";
import type { ConfigInput } from "../../src/config/schema.js";
import { DeployEngine } from "../../src/fleet/engine.js";
import type { DeployEvent } from "../../src/fleet/events.js";
import { DeployJournal } from "../../src/fleet/journal.js";
import type { Host, RemoteShell } from "../../src/fleet/remote-shell.js";
import { HttpSmokeChecker, type SmokeChecker } from "../../src/fleet/smoke.js";
import { Staging } from "../../src/git/staging.js";

export function makeEngine(opts: { dir: string; config: ConfigInput; shell: RemoteShell; basePath?: (host: Host, deployPath: string) => string; smoke?: SmokeChecker }) {
  const config = parseConfigText(JSON.stringify(opts.config), "test.json");
  const journal = new DeployJournal(join(opts.dir, "deploys.sqlite3"), () => new Date());
  const stagings = new Map<string, Staging>();
  const events: DeployEvent[] = [];
  const engine = new DeployEngine({
    config,
    shell: opts.shell,
    journal,
    staging: (app) => {
      if (!stagings.has(app)) stagings.set(app, new Staging({ dir: join(opts.dir, "staging", app), source: config.apps[app]!.repo, patchesDir: config.apps[app]!.securityPatches, timeoutMs: 60_000, commitUrl: null }));
      return stagings.get(app)!;
    },
    smoke: opts.smoke ?? new HttpSmokeChecker(),
    log: pino({ level: "silent" }),
    now: () => performance.now(),
    basePath: (host, app) => (opts.basePath ? opts.basePath(host, app.deployPath) : app.deployPath),
  });
  return { engine, journal, events, config, onEvent: (e: DeployEvent) => void events.push(e) };
}
