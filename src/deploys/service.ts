// Deploys driven from the channel: previews and confirmations, one running operation per app with
// its AbortController, gate questions answered in the channel (or a rollback when nobody answers),
// paced progress lines, and the SAL entries that carry the commit range. The engine does the work.

import type { Logger } from "pino";
import { compressHosts } from "../chat/format.js";
import { UserError } from "../errors.js";
import type { DeployEngine, DeployPreview, OperationResult } from "../fleet/engine.js";
import { formatDuration, groupProblems } from "../fleet/engine.js";
import type { DeployEvent, GateVerdict, HostProblem } from "../fleet/events.js";
import { GLOBAL_SCOPE, type DeployJournal } from "../fleet/journal.js";
import { ProgressTracker, summarizeCensus } from "../fleet/progress.js";
import type { SalService } from "../sal/service.js";
import { shortSha as short } from "../git/commit-range.js";
import { finishedEntry, lockEntry, notOn, rollbackEntry, startedEntry, unlockEntry } from "./sal-entries.js";

export interface Who {
  readonly nick: string;
  readonly account: string | null;
  readonly mask: string;
}

export interface DeployServiceDeps {
  readonly engine: DeployEngine;
  readonly journal: DeployJournal;
  readonly sal: SalService;
  readonly log: Logger;
  /** Sends a line to a channel (as NOTICE); lines must already fit. */
  readonly announce: (channel: string, text: string) => void;
  readonly deployUrl: (id: number) => string;
  readonly now: () => number;
  /** Apps whose deploys need `!yes` from the same account within confirmSec. */
  readonly confirm: (app: string) => boolean;
  readonly confirmSec: number;
  /** No answer to a gate question within this long means roll back. */
  readonly gateAnswerSec: number;
  /** At most one progress line per stage, and never more often than this. */
  readonly progressEveryMs: number;
  /** Whether this sender may answer for a deploy started by someone else (an admin). */
  readonly isAdmin: (who: Who, channel: string | null) => boolean;
  /** Every progress event of the deploys and rollbacks it runs (the fleet dashboard). */
  readonly onEvent?: (e: DeployEvent) => void;
  /** Told about finished deploys and rollbacks, and asked at the canary gate (metrics: src/metrics/deploy-watch.ts). */
  readonly watcher?: DeployWatcher | null;
}

export interface FinishedOperation {
  readonly deployId: number;
  readonly app: string;
  readonly kind: "deploy" | "rollback";
  readonly from: string | null;
  readonly to: string;
  readonly nick: string;
  readonly by: Who;
  readonly reason: string;
  readonly channel: string;
  readonly state: string;
  /** ms since the epoch. */
  readonly startedAt: number;
  readonly finishedAt: number;
}

export interface CanaryQuestion {
  readonly deployId: number;
  readonly app: string;
  readonly nick: string;
  readonly channel: string;
  /** Canaries that passed their steps, and the hosts not yet deployed. */
  readonly canaries: readonly string[];
  readonly others: readonly string[];
  readonly signal: AbortSignal;
}

/** A watcher's objection at the canary gate: why, and whether to roll back without asking. */
export interface GateOpinion {
  readonly why: string;
  readonly rollback: boolean;
}

export interface DeployWatcher {
  /** Never throws; works in the background (markers, the verdict after the window). */
  finished(op: FinishedOperation): void;
  /** After canaries that passed: null to continue, or an objection. */
  canaryGate?(q: CanaryQuestion): Promise<GateOpinion | null>;
}

interface Running {
  readonly app: string;
  readonly kind: "deploy" | "rollback";
  readonly by: Who;
  readonly channel: string;
  readonly abort: AbortController;
  readonly tracker: ProgressTracker;
  deployId: number | null;
  gate: { readonly ask: string; readonly answer: (v: GateVerdict, who: Who) => void } | null;
  abortedBy: string | null;
}

interface Pending {
  readonly preview: DeployPreview;
  readonly reason: string;
  readonly by: Who;
  readonly channel: string;
  readonly expires: number;
}


/** `api abc1234..def5678 (3 commits, +120/-30, 1 security patch) to 50 hosts` */
export function describePreview(p: DeployPreview): string {
  const r = p.range;
  const patches = p.staged.patches.length ? `, ${p.staged.patches.length} security patch${p.staged.patches.length > 1 ? "es" : ""}` : "";
  const count = p.from === null ? "first deploy" : `${r.count} commit${r.count === 1 ? "" : "s"}, +${r.added}/-${r.deleted}`;
  const unreachable = p.problems.length ? ` (${p.problems.length} not answering: ${groupProblems(p.problems)})` : "";
  const already = p.onTarget > 0 ? `, ${p.onTarget} already on it` : "";
  return `${p.app} ${short(p.from)}..${short(p.staged.sha)} (${count}${patches}) to ${p.reachable} host${p.reachable === 1 ? "" : "s"}${already}${unreachable}`;
}

export class DeployService {
  private readonly running = new Map<string, Running>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly d: DeployServiceDeps) {}

  private key(who: Who): string {
    return who.account ?? who.mask;
  }

  private sal(message: string, by: Who, channel: string | null, deployId: number | null): Promise<unknown> {
    return this.d.sal.log({ nick: by.nick, account: by.account, mask: by.mask, channel, message, source: "deploy", deployId }).catch((e: unknown) => this.d.log.error({ err: e }, "could not write the SAL entry"));
  }

  runningFor(app: string): Running | undefined {
    return this.running.get(app);
  }

  /** !diff: what a deploy would ship, without deploying. */
  async diff(app: string, ref: string | undefined, signal?: AbortSignal): Promise<{ preview: DeployPreview; line: string }> {
    const preview = await this.d.engine.preview(app, ref, signal);
    return { preview, line: describePreview(preview) };
  }

  /** !deploy: previews, then starts (or waits for !yes). Returns the lines to answer with. */
  async deploy(app: string, ref: string | undefined, reason: string, by: Who, channel: string, signal?: AbortSignal): Promise<string[]> {
    this.ensureFree(app, by);
    const preview = await this.d.engine.preview(app, ref, signal);
    const what = describePreview(preview);
    if (preview.reachable > 0 && preview.onTarget === preview.reachable) throw new UserError(`${app} already runs ${short(preview.staged.sha)} (${preview.ref}) on every host that answers: nothing to deploy`);
    if (this.d.confirm(app)) {
      this.pending.set(this.key(by), { preview, reason, by, channel, expires: this.d.now() + this.d.confirmSec * 1000 });
      return [`will ship ${what}: say !yes within ${this.d.confirmSec}s to start`];
    }
    this.start(preview, reason, by, channel);
    return [`shipping ${what}`];
  }

  /** !yes: starts the deploy the same account asked for. */
  yes(by: Who): string[] {
    const p = this.pending.get(this.key(by));
    this.pending.delete(this.key(by));
    if (!p || p.expires < this.d.now()) throw new UserError("nothing to confirm (a !deploy waits for !yes from the same account for a limited time)");
    this.ensureFree(p.preview.app, by);
    this.start(p.preview, p.reason, by, p.channel);
    return [`shipping ${describePreview(p.preview)}`];
  }

  private ensureFree(app: string, by: Who): void {
    const r = this.running.get(app);
    if (r) throw new UserError(`${r.kind} #${r.deployId ?? "?"} of ${app} by ${r.by.nick} is running: ${r.tracker.line()}`);
    this.d.engine.app(app);
    const blocker = this.d.journal.blocker(app, by.nick);
    if (blocker) {
      const what = blocker.kind === "running" ? `deploy #${blocker.deploy.id} by ${blocker.deploy.nick} is marked running${blocker.stale ? " but its process is gone (stale: !unlock " + app + " clears it)" : ""}` : `${blocker.kind === "freeze" ? "all deploys are frozen" : `${app} is locked`} by ${blocker.lock.nick} (${formatDuration(this.d.now() - Date.parse(blocker.lock.at))} ago): ${blocker.lock.reason}`;
      throw new UserError(what);
    }
  }

  private track(app: string, kind: "deploy" | "rollback", by: Who, channel: string): Running {
    const r: Running = { app, kind, by, channel, abort: new AbortController(), tracker: new ProgressTracker(), deployId: null, gate: null, abortedBy: null };
    this.running.set(app, r);
    return r;
  }

  /** Paced progress: at most one line per stage, never more often than progressEveryMs. */
  private progress(r: Running): (e: DeployEvent) => void {
    let last = 0;
    let lastLine = "";
    return (e) => {
      r.tracker.on(e);
      if (e.type === "started") r.deployId = e.deployId;
      if (e.type !== "stage-done" && e.type !== "rollback-started") return;
      const line = r.tracker.line();
      if (line === lastLine || this.d.now() - last < this.d.progressEveryMs) return;
      last = this.d.now();
      lastLine = line;
      this.d.announce(r.channel, line);
    };
  }

  private start(preview: DeployPreview, reason: string, by: Who, channel: string): void {
    const r = this.track(preview.app, "deploy", by, channel);
    const onProgress = this.progress(r);
    let started: Promise<unknown> = Promise.resolve();
    const run = this.d.engine
      .deploy({
        app: preview.app, ref: preview.ref, staged: preview.staged, census: preview.census, reason, nick: by.nick, signal: r.abort.signal,
        onEvent: (e) => {
          this.d.onEvent?.(e);
          if (e.type === "started") started = this.sal(startedEntry(preview.app, preview.from, preview.staged.sha, preview.range, reason), by, channel, e.deployId);
          onProgress(e);
        },
        gate: (info) => this.gate(r, info.deployId, info.stage.hosts, info.failed),
      })
      .then(async (result) => {
        await started;
        await this.finished(r, result, preview, reason);
        this.d.watcher?.finished({
          deployId: result.deploy.id, app: r.app, kind: "deploy", from: preview.from, to: preview.staged.sha, nick: r.by.nick, by: r.by, reason, channel: r.channel, state: result.state,
          startedAt: Date.parse(result.deploy.startedAt), finishedAt: result.deploy.finishedAt ? Date.parse(result.deploy.finishedAt) : this.d.now(),
        });
      })
      .catch((e: unknown) => this.failedToRun(r, e))
      .finally(() => {
        this.running.delete(preview.app);
        this.inFlight.delete(run);
      });
    this.inFlight.add(run);
  }

  /** Resolves when no deploy runs (at shutdown: the final lines and SAL entries get out first). */
  async settle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** The canary gate: failed canaries ask the channel; passing ones are judged by the watcher's metrics too. */
  private async gate(r: Running, deployId: number, stageHosts: readonly string[], failed: readonly HostProblem[]): Promise<GateVerdict> {
    const judge = this.d.watcher?.canaryGate?.bind(this.d.watcher);
    if (failed.length || !judge) return this.askGate(r, failed);
    const canaries = stageHosts.filter((h) => !failed.some((p) => p.host === h));
    const others = this.d.engine.hosts(r.app).map((h) => h.name).filter((h) => !stageHosts.includes(h));
    let opinion: GateOpinion | null = null;
    try {
      opinion = await judge({ deployId, app: r.app, nick: r.by.nick, channel: r.channel, canaries, others, signal: r.abort.signal });
    } catch (e) {
      if (r.abort.signal.aborted) return "rollback";
      this.d.log.error({ err: e, app: r.app }, "the canary metric gate failed");
      this.d.announce(r.channel, `${r.kind} #${deployId} ${r.app}: the canary metrics could not be judged (${(e as Error).message}): NO DATA, going on`);
    }
    if (!opinion) return "continue";
    if (opinion.rollback) {
      this.d.announce(r.channel, `${r.kind} #${deployId} ${r.app}: ${opinion.why}: rolling back (verdict.canaryOnWorse: rollback)`);
      return "rollback";
    }
    return this.askGate(r, [], opinion.why);
  }

  private askGate(r: Running, failed: readonly HostProblem[], why?: string): Promise<GateVerdict> {
    if (failed.length === 0 && !why) return Promise.resolve("continue");
    return new Promise<GateVerdict>((resolve) => {
      const timer = setTimeout(() => {
        r.gate = null;
        this.d.announce(r.channel, `${r.kind} #${r.deployId} ${r.app}: no answer within ${this.d.gateAnswerSec}s, rolling back`);
        resolve("rollback");
      }, this.d.gateAnswerSec * 1000);
      const ask = `${r.kind} #${r.deployId} ${r.app}: ${why ?? `the canaries failed (${groupProblems(failed)})`}. ${r.by.nick}: !retry, !continue, !rollback or !abort ${r.app} (rolling back in ${this.d.gateAnswerSec}s without an answer)`;
      r.gate = {
        ask,
        answer: (v, who) => {
          clearTimeout(timer);
          r.gate = null;
          this.d.log.info({ app: r.app, verdict: v, by: who.nick }, "gate answered");
          resolve(v);
        },
      };
      this.d.announce(r.channel, ask);
    });
  }

  /** !retry / !continue / !rollback while a gate question is open. Only the deployer or an admin. */
  answerGate(app: string | undefined, verdict: GateVerdict, who: Who, channel: string | null): string[] | null {
    const candidates = [...this.running.values()].filter((r) => r.gate && (app === undefined || r.app === app));
    if (candidates.length === 0) return null;
    if (candidates.length > 1) throw new UserError(`several deploys are waiting for an answer: name the app (${candidates.map((c) => c.app).join(", ")})`);
    const r = candidates[0]!;
    if (this.key(who) !== this.key(r.by) && !this.d.isAdmin(who, channel)) throw new UserError(`only ${r.by.nick} (who started it) or an admin can answer for ${r.kind} #${r.deployId}`);
    r.gate!.answer(verdict, who);
    return [`${verdict} (${r.kind} #${r.deployId} ${r.app})`];
  }

  /** !abort APP: no new hosts; the engine rolls back the hosts already switched. */
  abort(app: string, who: Who, channel: string | null): string[] {
    const r = this.running.get(app);
    if (!r) throw new UserError(`nothing is running for ${app}`);
    if (this.key(who) !== this.key(r.by) && !this.d.isAdmin(who, channel)) throw new UserError(`only ${r.by.nick} (who started it) or an admin can abort ${r.kind} #${r.deployId}`);
    r.abortedBy = who.nick;
    if (r.gate) r.gate.answer("rollback", who);
    r.abort.abort();
    return [`aborting ${r.kind} #${r.deployId} ${app}: no new hosts; hosts already switched go back (${r.tracker.line()})`];
  }

  /** !rollback APP [REV]: to the previous release on every host, in seconds. */
  async rollback(app: string, to: string | undefined, reason: string, by: Who, channel: string): Promise<string[]> {
    this.ensureFree(app, by);
    const r = this.track(app, "rollback", by, channel);
    try {
      const result = await this.d.engine.rollback({
        app, ...(to ? { to } : {}), reason, nick: by.nick, signal: r.abort.signal,
        onEvent: (e) => {
          this.d.onEvent?.(e);
          r.tracker.on(e);
          if (e.type === "started") r.deployId = e.deployId;
        },
      });
      const hosts = result.ok.length;
      const failed = notOn(result);
      await this.sal(rollbackEntry(app, result, reason), by, channel, result.deploy.id);
      this.d.watcher?.finished({
        deployId: result.deploy.id, app, kind: "rollback", from: result.from, to: result.to, nick: by.nick, by, reason, channel, state: result.state,
        startedAt: Date.parse(result.deploy.startedAt), finishedAt: result.deploy.finishedAt ? Date.parse(result.deploy.finishedAt) : this.d.now(),
      });
      return [`rolled back ${app} ${short(result.from)} -> ${short(result.to)} on ${hosts}/${hosts + result.problems.length} hosts in ${formatDuration(result.ms)}${failed} ${this.d.deployUrl(result.deploy.id)}`];
    } finally {
      this.running.delete(app);
    }
  }

  private async finished(r: Running, result: OperationResult, preview: DeployPreview, reason: string): Promise<void> {
    const range = `${short(preview.from)}..${short(preview.staged.sha)}`;
    const took = formatDuration(result.ms);
    await this.sal(finishedEntry({ app: r.app, from: preview.from, to: preview.staged.sha, range: preview.range, result, reason, abortedBy: r.abortedBy ?? r.by.nick }), r.by, r.channel, result.deploy.id);
    const causes = result.problems.length ? `; ${groupProblems(result.problems)}` : "";
    const back = result.rolledBack.length ? `; ${compressHosts(result.rolledBack)} back on ${short(preview.from)}` : "";
    const words = { succeeded: "SUCCEEDED", "rolled-back": "ROLLED BACK", failed: "FAILED", aborted: "ABORTED", interrupted: "INTERRUPTED", running: "RUNNING" }[result.state];
    this.d.announce(r.channel, `${r.kind} #${result.deploy.id} ${r.app} ${range}: ${words} on ${result.ok.length}/${result.hosts} hosts in ${took}${causes}${back} ${this.d.deployUrl(result.deploy.id)}`);
  }

  private failedToRun(r: Running, e: unknown): void {
    const message = e instanceof UserError ? e.message : "internal error (see the log)";
    if (!(e instanceof UserError)) this.d.log.error({ err: e, app: r.app }, "deploy failed to run");
    this.d.announce(r.channel, `${r.kind} ${r.app}: could not run: ${message}`);
  }

  /** !status [APP]: the census, the lock, any running deploy and its progress. */
  async status(app: string, signal?: AbortSignal): Promise<string[]> {
    const census = await this.d.engine.census(app, signal);
    const lines = [`${app}: ${summarizeCensus(census, this.d.journal.live(app)?.sha ?? null)}`];
    const r = this.running.get(app);
    if (r) lines.push(`running: ${r.tracker.line()}${r.gate ? " (waiting for an answer)" : ""}`);
    for (const d of this.d.journal.running(app)) if (!r || d.id !== r.deployId) lines.push(`${d.kind} #${d.id} by ${d.nick} is marked running${d.stale ? " but its process is gone (stale: !unlock clears it)" : ""}`);
    for (const l of this.d.journal.locks().filter((l) => l.scope === app || l.scope === GLOBAL_SCOPE)) lines.push(`${l.scope === GLOBAL_SCOPE ? "all deploys frozen" : "locked"} by ${l.nick} ${formatDuration(this.d.now() - Date.parse(l.at))} ago: ${l.reason}`);
    return lines;
  }

  async lock(scope: string, reason: string, by: Who, channel: string | null): Promise<string[]> {
    const s = scope === "all" ? GLOBAL_SCOPE : (this.d.engine.app(scope), scope);
    const r = this.d.journal.lock(s, by.nick, reason);
    if (!r.ok) throw new UserError(`${scope} is already locked by ${r.lock.nick} (${formatDuration(this.d.now() - Date.parse(r.lock.at))} ago): ${r.lock.reason}`);
    await this.sal(lockEntry(scope, reason), by, channel, null);
    return [`locked ${scope === "all" ? "all deploys" : scope}: ${reason}`];
  }

  async unlock(scope: string, by: Who, channel: string | null): Promise<string[]> {
    const s = scope === "all" ? GLOBAL_SCOPE : (this.d.engine.app(scope), scope);
    const r = this.d.journal.unlock(s);
    if (!r.lock && r.interrupted.length === 0) throw new UserError(`${scope} is not locked`);
    const parts: string[] = [];
    if (r.lock) parts.push(`unlocked ${scope} (locked by ${r.lock.nick}: ${r.lock.reason})`);
    for (const d of r.interrupted) parts.push(`cleared stale ${d.kind} #${d.id} by ${d.nick}`);
    await this.sal(unlockEntry(scope, r.interrupted), by, channel, null);
    return [parts.join("; ")];
  }

  /** At start-up: deploys the journal says were running when the bot stopped, with the fleet's true state. */
  async recover(channel: string): Promise<void> {
    for (const d of this.d.journal.running(null).filter((x) => x.stale)) {
      let state = "";
      try {
        const census = await this.d.engine.census(d.app);
        state = summarizeCensus(census, this.d.journal.live(d.app)?.sha ?? null);
      } catch (e) {
        state = `the census failed: ${(e as Error).message}`;
      }
      this.d.journal.finish(d.id, "interrupted", `interrupted: the bot stopped during the ${d.kind}; ${state}`);
      const who: Who = { nick: d.nick, account: null, mask: `${d.nick}!*@*` };
      await this.sal(`Interrupted ${d.kind} ${d.app} ${short(d.fromSha)}..${short(d.toSha)} (the bot stopped): ${state}: ${d.reason}`, who, channel, d.id);
      this.d.announce(channel, `${d.kind} #${d.id} ${d.app} by ${d.nick} was interrupted when the bot stopped. Now: ${state}. !deploy ${d.app} to finish it, or !rollback ${d.app} -- REASON`);
    }
  }
}
