// `tugboat deploy|rollback|status`: the sync engine from a terminal, with a live progress bar
// (a line per stage when not a terminal) and a final summary. Exit code 0 only when all went well.
// Deploys, rollbacks, locks and unlocks are written to the data directory's SAL, worded as the bot
// words them (with the commit range), from the terminal's user ("via cli: USER@HOST").

import { hostname, userInfo } from "node:os";
import type { Writable } from "node:stream";
import { pino } from "pino";
import type { LoadedConfig } from "../config/load.js";
import { reasonText } from "../chat/deploy-args.js";
import { finishedEntry, lockEntry, reportChannel, rollbackEntry, startedEntry, unlockEntry } from "../deploys/sal-entries.js";
import { UserError } from "../errors.js";
import { buildFleet } from "../fleet/build.js";
import { GLOBAL_SCOPE } from "../fleet/journal.js";
import { recordLeftOut } from "../fleet/left-out.js";
import type { DeployEvent } from "../fleet/events.js";
import { ProgressTracker, summarizeCensus } from "../fleet/progress.js";
import { SalService } from "../sal/service.js";
import { salFile, SqliteSalStore } from "../sal/sqlite-store.js";

export interface FleetCommandOptions {
  readonly loaded: LoadedConfig;
  readonly dataDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly out: Writable & { isTTY?: boolean };
  readonly nick: string;
}

export type FleetCommand = "deploy" | "rollback" | "status" | "lock" | "unlock";

export async function fleetCommand(command: FleetCommand, args: readonly string[], reason: string | undefined, o: FleetCommandOptions): Promise<number> {
  const [app, rev, ...extra] = args;
  const usage: Record<FleetCommand, string> = { deploy: "APP [REF] -m REASON", rollback: "APP [REV] -m REASON", status: "APP", lock: "APP|all -m REASON", unlock: "APP|all" };
  if (!app) throw new UserError(`usage: tugboat ${command} ${usage[command]}`);
  if (extra.length || (rev && (command === "status" || command === "lock" || command === "unlock"))) throw new UserError(`unexpected arguments (usage: tugboat ${command} ${usage[command]})`);
  const why = reason?.trim() ?? "";
  if ((command === "deploy" || command === "rollback" || command === "lock") && !why) throw new UserError(`a reason is required: tugboat ${command} ${app} -m "why"`);
  if (why) {
    // The same rule as the channel's: the reason goes into the SAL entry.
    const checked = reasonText.safeParse(why);
    if (!checked.success) throw new UserError(`${checked.error.issues[0]!.message}: tugboat ${command} ${app} -m "why"`);
  }
  const log = pino({ level: "warn" }, pino.destination(2));
  const fleet = buildFleet(o.loaded, o.dataDir, log, o.env);
  // Opened before anything is done, so a SAL that cannot be opened stops the command before it acts.
  let store: SqliteSalStore | null = null;
  try {
    if (command !== "status") store = new SqliteSalStore(salFile(o.dataDir), () => new Date());
  } catch (e) {
    await fleet.close();
    throw new UserError(`cannot open the SAL at ${salFile(o.dataDir)}, so nothing was done: ${(e as Error).message}`);
  }
  const sal = store ? new SalService(store, o.loaded.config.sal) : null;
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  const identity = `${userInfo().username}@${hostname()}`;
  // The channel the bot reports deploys in: a running bot announces the entries there.
  const channel = reportChannel(o.loaded.config);
  const salFailures: string[] = [];
  /** Writes an entry; a failure is reported at the end (the fleet has changed either way). */
  const record = async (message: string, deployId: number | null): Promise<void> => {
    try {
      await sal!.log({ nick: o.nick, message, source: "cli", identity, deployId, channel });
    } catch (e) {
      salFailures.push(`${(e as Error).message} (the entry: ${message})`);
    }
  };
  const salReport = (code: number): number => {
    for (const f of salFailures) process.stderr.write(`tugboat: could not write to the SAL at ${salFile(o.dataDir)}: ${f}\n`);
    return salFailures.length ? 1 : code;
  };
  try {
    if (command === "lock" || command === "unlock") {
      const scope = app === "all" ? GLOBAL_SCOPE : (fleet.engine.app(app), app);
      if (command === "lock") {
        const r = fleet.journal.lock(scope, o.nick, why);
        if (!r.ok) throw new UserError(`${app} is already locked by ${r.lock.nick} since ${r.lock.at}: ${r.lock.reason}`);
        o.out.write(`locked ${app === "all" ? "all deploys (global freeze)" : app}: ${why}\n`);
        await record(lockEntry(app, why), null);
        return salReport(0);
      }
      const r = fleet.journal.unlock(scope);
      if (!r.lock && r.interrupted.length === 0) throw new UserError(`${app} is not locked`);
      if (r.lock) o.out.write(`unlocked ${app} (locked by ${r.lock.nick} since ${r.lock.at}: ${r.lock.reason})\n`);
      for (const d of r.interrupted) o.out.write(`cleared stale ${d.kind} #${d.id} by ${d.nick} (started ${d.startedAt}; its process had stopped): marked interrupted\n`);
      await record(unlockEntry(app, r.interrupted), null);
      return salReport(0);
    }
    if (command === "status") {
      const census = await fleet.engine.census(app);
      const live = fleet.journal.live(app);
      o.out.write(`${app}: ${summarizeCensus(census, live?.sha ?? null)}\n`);
      for (const d of fleet.journal.running(app)) o.out.write(`running: ${d.kind} #${d.id} by ${d.nick} since ${d.startedAt}${d.stale ? " (STALE: its process is gone)" : ""}\n`);
      for (const l of fleet.journal.locks().filter((l) => l.scope === app || l.scope === "*")) o.out.write(`locked${l.scope === "*" ? " (global freeze)" : ""} by ${l.nick} since ${l.at}: ${l.reason}\n`);
      return census.some((c) => c.problem) ? 1 : 0;
    }
    const tracker = new ProgressTracker();
    const tty = Boolean(o.out.isTTY);
    let lastStage = "";
    // A deploy's commit range, counted in the staging repository once the engine has staged the revision.
    let range: Promise<{ count: number; added: number; deleted: number } | null> = Promise.resolve(null);
    let started: Promise<void> = Promise.resolve();
    const onEvent = (e: DeployEvent) => {
      if (e.type === "started" && e.kind === "deploy") {
        range = fleet.staging(app).range(e.from, e.to, { limit: 1 }).catch((err: unknown) => (log.warn({ err }, "could not count the commits of the deploy's range"), null));
        started = range.then((r) => record(startedEntry(app, e.from, e.to, r, why), e.deployId));
      }
      recordLeftOut(fleet.journal, e);
      tracker.on(e);
      if (tty) o.out.write(`\r\x1b[K${tracker.bar()} ${tracker.line()}`);
      else if (e.type === "stage-done" || e.type === "started" || e.type === "rollback-started" || e.type === "gate") {
        const line = tracker.line();
        if (line !== lastStage) o.out.write(`${line}\n`);
        lastStage = line;
      }
    };
    const result =
      command === "deploy"
        ? await fleet.engine.deploy({ app, ...(rev ? { ref: rev } : {}), reason: reason!, nick: o.nick, signal: abort.signal, onEvent })
        : await fleet.engine.rollback({ app, ...(rev ? { to: rev } : {}), reason: reason!, nick: o.nick, signal: abort.signal, onEvent });
    if (tty) o.out.write("\n");
    await started;
    await record(
      command === "deploy"
        ? finishedEntry({ app, from: result.from, to: result.to, range: await range, result, reason: why, abortedBy: o.nick })
        : rollbackEntry(app, result, why),
      result.deploy.id,
    );
    const patches = result.staged?.patches.length ? `, ${result.staged.patches.length} security patch${result.staged.patches.length > 1 ? "es" : ""}` : "";
    o.out.write(`${command} #${result.deploy.id} ${app} ${result.from?.slice(0, 7) ?? "nothing"}..${result.to.slice(0, 7)}${patches}: ${result.summary}\n`);
    for (const p of result.problems) o.out.write(`  ${p.host}: ${p.message}${p.stderrTail ? `\n    ${p.stderrTail.split("\n").join("\n    ")}` : ""}\n`);
    return salReport(result.state === "succeeded" && result.problems.length === 0 ? 0 : 1);
  } finally {
    process.removeListener("SIGINT", onSignal);
    await fleet.close();
    await store?.close();
  }
}
