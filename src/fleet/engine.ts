// The sync engine: ships a staged git revision to an app's hosts (census, canaries, gate, batches,
// failure budget, rollback of switched hosts), rolls back in seconds, and reports every host's outcome.
// Every step result goes to the journal as it happens; progress goes out as typed events.

import type { Logger } from "pino";
import type { AppConfig, Config } from "../config/schema.js";
import { UserError } from "../errors.js";
import type { CommitRange } from "../git/commit-range.js";
import type { StagedRevision } from "../git/staging.js";
import { compressHosts } from "../chat/format.js";
import { GATE_HOST, type DeployEvent, type GateVerdict, type HostProblem } from "./events.js";
import { runStep, type StepResult } from "./host-runner.js";
import { resolveHosts } from "./inventory.js";
import type { Blocker, DeployJournal, DeployRecord, DeployState } from "./journal.js";
import { failureBudget, planStages, type Stage } from "./plan.js";
import type { Host, RemoteShell } from "./remote-shell.js";
import { Semaphore } from "./semaphore.js";
import type { SmokeChecker } from "./smoke.js";
import { parseCensus, type HostState } from "./steps.js";

/** What the engine needs of the staging repository (src/git/staging.ts). */
export interface StagingPort {
  update(signal?: AbortSignal): Promise<void>;
  stage(ref: string, signal?: AbortSignal): Promise<StagedRevision>;
  bundle(sha: string, haves: readonly string[], signal?: AbortSignal): Promise<Buffer | null>;
  range(from: string | null, to: string, opts?: { limit?: number; signal?: AbortSignal }): Promise<CommitRange>;
  diff(from: string | null, to: string, maxBytes: number, signal?: AbortSignal): Promise<string>;
}

/** What a deploy would ship, computed before anything is touched (for !diff and the deploy preview). */
export interface DeployPreview {
  readonly app: string;
  readonly ref: string;
  readonly staged: StagedRevision;
  /** The release live now (the journal's, else the most common on the hosts). */
  readonly from: string | null;
  readonly range: CommitRange;
  readonly hosts: number;
  readonly reachable: number;
  /** Reachable hosts that run the staged revision already. */
  readonly onTarget: number;
  readonly problems: readonly HostProblem[];
}

export interface EngineDeps {
  readonly config: Config;
  readonly shell: RemoteShell;
  readonly journal: DeployJournal;
  readonly staging: (app: string) => StagingPort;
  readonly smoke: SmokeChecker;
  readonly log: Logger;
  readonly now: () => number;
  /** Where the app lives on a host: the deploy path, under the host's root for the local transport. */
  readonly basePath: (host: Host, app: AppConfig) => string;
}

export interface OperationRequest {
  readonly app: string;
  readonly reason: string;
  readonly nick: string;
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: DeployEvent) => void;
}

export interface DeployRequest extends OperationRequest {
  readonly ref?: string;
  /** A revision staged already (by preview()): skips fetching and patching again. */
  readonly staged?: StagedRevision;
  /** After the canary stage: continue, roll back or stop. Default: continue when the canaries passed. */
  readonly gate?: (info: { deployId: number; stage: Stage; failed: readonly HostProblem[] }) => Promise<GateVerdict>;
}

export interface RollbackRequest extends OperationRequest {
  /** A release the hosts still keep (full or abbreviated SHA); default: each app's previous release. */
  readonly to?: string;
}

export interface OperationResult {
  readonly deploy: DeployRecord;
  /** Hosts of the app (reachable or not). */
  readonly hosts: number;
  readonly state: DeployState;
  readonly staged: StagedRevision | null;
  readonly from: string | null;
  readonly to: string;
  readonly ok: readonly string[];
  readonly problems: readonly HostProblem[];
  readonly rolledBack: readonly string[];
  readonly ms: number;
  readonly bytesSent: number;
  readonly summary: string;
}

export interface CensusEntry {
  readonly host: string;
  readonly state: HostState | null;
  readonly problem: HostProblem | null;
}

export function describeBlocker(b: Blocker, now: number): string {
  const age = (iso: string) => formatDuration(now - Date.parse(iso));
  if (b.kind === "running") {
    const d = b.deploy;
    return b.stale
      ? `deploy #${d.id} of ${d.app} by ${d.nick} (${age(d.startedAt)} ago) is marked running but its process ${d.pid} is gone: a stale lock; unlock ${d.app} to clear it`
      : `deploy #${d.id} of ${d.app} by ${d.nick} is running (started ${age(d.startedAt)} ago)`;
  }
  const what = b.kind === "freeze" ? "all deploys are frozen" : `${b.lock.scope} is locked`;
  return `${what} by ${b.lock.nick} ${age(b.lock.at)} ago: ${b.lock.reason}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  if (m < 60) return `${m}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

export class DeployEngine {
  constructor(private readonly deps: EngineDeps) {}

  app(name: string): AppConfig {
    const app = this.deps.config.apps[name];
    if (!app) throw new UserError(`no app "${name}" (apps: ${Object.keys(this.deps.config.apps).join(", ") || "none configured"})`);
    return app;
  }

  hosts(appName: string): Host[] {
    return resolveHosts(this.deps.config.fleet, this.app(appName));
  }

  private step(deployId: number | null, app: AppConfig, emit: (e: DeployEvent) => void) {
    return {
      shell: this.deps.shell,
      umask: app.umask.padStart(3, "0"),
      now: this.deps.now,
      record: (host: string, step: string, r: StepResult) => {
        if (deployId === null) return;
        this.deps.journal.step({ deployId, host, step, outcome: r.ok ? "ok" : r.problem.kind, ms: r.ms, detail: r.ok ? null : [r.problem.message, r.problem.stderrTail].filter(Boolean).join("\n") });
        emit({ type: "host-step", deployId, host, step, ok: r.ok, ms: r.ms });
      },
    };
  }

  /** Reads the live release on every host of the app (in parallel, bounded), honest about failures. */
  async census(appName: string, signal?: AbortSignal): Promise<CensusEntry[]> {
    const app = this.app(appName);
    const hosts = this.hosts(appName);
    const limit = new Semaphore(app.concurrency);
    const deps = this.step(null, app, () => {});
    return Promise.all(
      hosts.map((h) =>
        limit.run(async (): Promise<CensusEntry> => {
          const r = await runStep(deps, h, "census", [this.deps.basePath(h, app)], app.timeouts.censusSec, undefined, signal);
          return r.ok ? { host: h.name, state: parseCensus(r.lines), problem: null } : { host: h.name, state: null, problem: r.problem };
        }),
      ),
    );
  }

  async deploy(req: DeployRequest): Promise<OperationResult> {
    const app = this.app(req.app);
    const started = this.deps.now();
    const emit = req.onEvent ?? (() => {});
    const staging = this.deps.staging(req.app);
    let staged = req.staged;
    if (!staged) {
      await staging.update(req.signal);
      staged = await staging.stage(req.ref ?? app.branch, req.signal);
    }
    const census = await this.census(req.app, req.signal);
    const from = this.deps.journal.live(req.app)?.sha ?? majority(census.map((c) => c.state?.current ?? null));
    const begun = this.deps.journal.begin({ app: req.app, kind: "deploy", ref: req.ref ?? app.branch, fromSha: from, toSha: staged.sha, reason: req.reason, nick: req.nick });
    if (!begun.ok) throw new UserError(describeBlocker(begun.blocker, this.deps.now()));
    const deploy = begun.deploy;
    const hostsByName = new Map(this.hosts(req.app).map((h) => [h.name, h]));
    const leftOut = census.flatMap((c) => (c.problem ? [c.problem] : []));
    const reachable = census.filter((c) => c.state !== null);
    const stateOf = new Map(reachable.map((c) => [c.host, c.state!]));
    emit({ type: "started", deployId: deploy.id, app: req.app, kind: "deploy", from, to: staged.sha, hosts: census.length });
    if (leftOut.length) emit({ type: "left-out", deployId: deploy.id, problems: leftOut });

    const stepDeps = this.step(deploy.id, app, emit);
    const bundles = new Map<string, Promise<Buffer | null>>();
    const bundleFor = (haves: readonly string[]) => {
      const key = [...haves].sort().join(",");
      if (!bundles.has(key)) bundles.set(key, staging.bundle(staged.sha, haves, req.signal));
      return bundles.get(key)!;
    };
    let bytesSent = 0;
    const switched: Array<{ host: Host; previous: string | null }> = [];
    const ok: string[] = [];
    const problems: HostProblem[] = [];
    const limit = new Semaphore(app.concurrency);

    const shipTo = async (host: Host): Promise<HostProblem | null> => {
      const base = this.deps.basePath(host, app);
      const state = stateOf.get(host.name)!;
      const bundle = state.haves.includes(staged.sha) ? null : await bundleFor(state.haves);
      const prep = await runStep(stepDeps, host, "prepare", [base, staged.sha, bundle ? "1" : "0"], app.timeouts.prepareSec, bundle ?? undefined, req.signal);
      bytesSent += prep.bytesSent;
      if (!prep.ok) return prep.problem;
      const promote = await runStep(stepDeps, host, "promote", [base, staged.sha], app.timeouts.promoteSec, undefined, req.signal);
      if (!promote.ok) return promote.problem;
      switched.push({ host, previous: state.current });
      if (app.restart) {
        const restart = await runStep(stepDeps, host, "restart", [base, app.restart], app.timeouts.restartSec, undefined, req.signal);
        if (!restart.ok) return restart.problem;
      }
      if (app.smoke.length) {
        const t = this.deps.now();
        const why = await this.deps.smoke.check(host, staged.sha, app.smoke, req.signal);
        const result: StepResult = why === null ? { ok: true, lines: [], ms: this.deps.now() - t } : { ok: false, ms: this.deps.now() - t, problem: { host: host.name, kind: "failed", step: "smoke", message: `smoke check failed: ${why}` } };
        stepDeps.record(host.name, "smoke", result);
        if (!result.ok) return result.problem;
      }
      const prune = await runStep(stepDeps, host, "prune", [base, String(app.keep)], app.timeouts.promoteSec, undefined, req.signal);
      if (!prune.ok) this.deps.log.warn({ host: host.name, problem: prune.problem }, "prune failed (the deploy goes on)");
      return null;
    };

    let halted: string | null = null;
    const stages = planStages(reachable.map((c) => c.host), app.canaries, app.batchSize);
    /** Ships to these hosts of a stage; a batch stops starting hosts once over its budget. */
    const runHosts = async (stage: Stage, names: readonly string[]): Promise<{ problems: HostProblem[]; overBudget: boolean }> => {
      const budget = stage.kind === "canary" ? Infinity : failureBudget(app.failureBudget, stage.hosts.length);
      const stageProblems: HostProblem[] = [];
      let stop = false;
      await Promise.all(
        names.map((name) =>
          limit.run(async () => {
            if (stop || req.signal?.aborted) return; // over budget: start no new hosts
            const host = hostsByName.get(name)!;
            const t = this.deps.now();
            const problem = await shipTo(host);
            emit({ type: "host-done", deployId: deploy.id, host: name, ok: problem === null, ms: this.deps.now() - t, ...(problem ? { problem } : {}) });
            if (problem) {
              stageProblems.push(problem);
              if (stageProblems.length > budget) stop = true;
            } else ok.push(name);
          }),
        ),
      );
      return { problems: stageProblems, overBudget: stop };
    };
    for (const stage of stages) {
      if (halted || req.signal?.aborted) break;
      emit({ type: "stage-started", deployId: deploy.id, stage: stage.name, hosts: stage.hosts });
      let run = await runHosts(stage, stage.hosts);
      if (run.overBudget) halted = `${stage.name}: ${run.problems.length} of ${stage.hosts.length} hosts failed, over the budget of ${failureBudget(app.failureBudget, stage.hosts.length)}`;
      else if (req.signal?.aborted) halted = "aborted";
      // The gate after the canaries: smoke results now (and the metric judge later). A failure asks
      // the gate (the channel), which may retry the failed canaries, continue, roll back or stop.
      while (!halted && stage.kind === "canary") {
        const verdict: GateVerdict = req.gate ? await req.gate({ deployId: deploy.id, stage, failed: run.problems }) : run.problems.length ? "rollback" : "continue";
        const why = run.problems.length ? `${run.problems.length} of ${stage.hosts.length} canaries failed: ${groupProblems(run.problems)}` : "canaries passed";
        // The journal keeps gate verdicts beside the host steps, under the pseudo-host "gate".
        this.deps.journal.step({ deployId: deploy.id, host: GATE_HOST, step: `after ${stage.name}`, outcome: verdict, ms: 0, detail: why });
        emit({ type: "gate", deployId: deploy.id, stage: stage.name, verdict, reason: why });
        if (req.signal?.aborted) halted = "aborted";
        else if (verdict === "retry") {
          run = await runHosts(stage, run.problems.map((p) => p.host));
          continue;
        } else if (verdict !== "continue") halted = `the gate after ${stage.name} said ${verdict}`;
        break;
      }
      problems.push(...run.problems);
      emit({ type: "stage-done", deployId: deploy.id, stage: stage.name, ok: stage.hosts.length - run.problems.length, failed: run.problems.length, halted: halted !== null });
      if (halted?.endsWith("said stop")) break;
    }

    const rolledBack: string[] = [];
    let state: DeployState;
    const stopOnly = halted?.endsWith("said stop") ?? false;
    if (halted && app.onFailure === "rollback" && !stopOnly) {
      // Hosts already switched go back, newest first; unreachable ones are left out and reported.
      const targets = switched.filter((s) => !problems.some((p) => p.host === s.host.name && (p.kind === "unreachable" || p.kind === "hostkey"))).reverse();
      emit({ type: "rollback-started", deployId: deploy.id, hosts: targets.map((t) => t.host.name), reason: halted });
      await Promise.all(
        targets.map((t) =>
          limit.run(async () => {
            if (!t.previous) {
              problems.push({ host: t.host.name, kind: "failed", step: "rollback", message: "no previous release to return to" });
              return;
            }
            const r = await runStep(stepDeps, t.host, "promote", [this.deps.basePath(t.host, app), t.previous], app.timeouts.promoteSec);
            if (!r.ok) return void problems.push({ ...r.problem, step: "rollback" });
            if (app.restart) {
              const rr = await runStep(stepDeps, t.host, "restart", [this.deps.basePath(t.host, app), app.restart], app.timeouts.restartSec);
              if (!rr.ok) return void problems.push({ ...rr.problem, step: "rollback restart" });
            }
            rolledBack.push(t.host.name);
          }),
        ),
      );
      state = req.signal?.aborted ? "aborted" : "rolled-back";
    } else if (halted) state = req.signal?.aborted ? "aborted" : "failed";
    else state = ok.length > 0 ? "succeeded" : "failed"; // nothing deployed anywhere is never a success

    const all = [...problems, ...leftOut];
    const summary = summarize({ state, ok: ok.length, total: census.length, problems: all, rolledBack, halted, ms: this.deps.now() - started });
    this.deps.journal.finish(deploy.id, state, summary, state === "succeeded" ? { app: req.app, sha: staged.sha } : undefined);
    emit({ type: "finished", deployId: deploy.id, state, summary });
    return { deploy: this.deps.journal.get(deploy.id)!, hosts: census.length, state, staged, from, to: staged.sha, ok, problems: all, rolledBack, ms: this.deps.now() - started, bytesSent, summary };
  }

  /** Stages the ref and reads the fleet: what a deploy would ship, touching nothing. */
  async preview(appName: string, ref: string | undefined, signal?: AbortSignal): Promise<DeployPreview> {
    const app = this.app(appName);
    const staging = this.deps.staging(appName);
    await staging.update(signal);
    const staged = await staging.stage(ref ?? app.branch, signal);
    const census = await this.census(appName, signal);
    const currents = census.map((c) => c.state?.current ?? null);
    // What runs now: the journal's live release; after an interrupted deploy, what the hosts not yet on
    // the target run (null when they run nothing: a first deploy).
    const from = this.deps.journal.live(appName)?.sha ?? (currents.every((c) => c === staged.sha) ? staged.sha : majority(currents.filter((c) => c !== staged.sha)));
    const range = await staging.range(from, staged.sha, { limit: 50, ...(signal ? { signal } : {}) });
    return {
      app: appName, ref: ref ?? app.branch, staged, from, range, hosts: census.length, reachable: census.filter((c) => c.state).length,
      onTarget: currents.filter((c) => c === staged.sha).length, problems: census.flatMap((c) => (c.problem ? [c.problem] : [])),
    };
  }

  /** Switches current back on every reachable host, without fetching: seconds, not minutes. */
  async rollback(req: RollbackRequest): Promise<OperationResult> {
    const app = this.app(req.app);
    const started = this.deps.now();
    const emit = req.onEvent ?? (() => {});
    const census = await this.census(req.app, req.signal);
    const reachable = census.filter((c) => c.state !== null);
    const live = this.deps.journal.live(req.app)?.sha ?? majority(reachable.map((c) => c.state!.current));
    const to = req.to ? resolveRelease(req.to, reachable.map((c) => c.state!)) : majority(reachable.map((c) => c.state!.previous));
    if (!to) throw new UserError(`no previous release of ${req.app} to roll back to`);
    const begun = this.deps.journal.begin({ app: req.app, kind: "rollback", ref: req.to ?? null, fromSha: live, toSha: to, reason: req.reason, nick: req.nick });
    if (!begun.ok) throw new UserError(describeBlocker(begun.blocker, this.deps.now()));
    const deploy = begun.deploy;
    emit({ type: "started", deployId: deploy.id, app: req.app, kind: "rollback", from: live, to, hosts: census.length });
    const stepDeps = this.step(deploy.id, app, emit);
    const hostsByName = new Map(this.hosts(req.app).map((h) => [h.name, h]));
    const limit = new Semaphore(Math.max(app.concurrency, 64));
    const ok: string[] = [];
    const problems: HostProblem[] = census.flatMap((c) => (c.problem ? [c.problem] : []));
    await Promise.all(
      reachable.map((c) =>
        limit.run(async () => {
          const host = hostsByName.get(c.host)!;
          const base = this.deps.basePath(host, app);
          if (!c.state!.releases.some((r) => r.sha === to && r.complete)) {
            problems.push({ host: c.host, kind: "failed", step: "rollback", message: `does not keep release ${to.slice(0, 7)}` });
            return;
          }
          const r = await runStep(stepDeps, host, "promote", [base, to], app.timeouts.promoteSec, undefined, req.signal);
          if (!r.ok) return void problems.push(r.problem);
          if (app.restart) {
            const rr = await runStep(stepDeps, host, "restart", [base, app.restart], app.timeouts.restartSec, undefined, req.signal);
            if (!rr.ok) return void problems.push(rr.problem);
          }
          ok.push(c.host);
        }),
      ),
    );
    const state: DeployState = problems.length === 0 ? "succeeded" : ok.length ? "failed" : "failed";
    const summary = summarize({ state, ok: ok.length, total: census.length, problems, rolledBack: [], halted: null, ms: this.deps.now() - started });
    this.deps.journal.finish(deploy.id, state, summary, ok.length ? { app: req.app, sha: to } : undefined);
    emit({ type: "finished", deployId: deploy.id, state, summary });
    return { deploy: this.deps.journal.get(deploy.id)!, hosts: census.length, state, staged: null, from: live, to, ok, problems, rolledBack: [], ms: this.deps.now() - started, bytesSent: 0, summary };
  }
}

function majority(values: ReadonlyArray<string | null>): string | null {
  const counts = new Map<string, number>();
  for (const v of values) if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | null = null;
  for (const [v, n] of counts) if (best === null || n > counts.get(best)!) best = v;
  return best;
}

function resolveRelease(prefix: string, states: readonly HostState[]): string {
  if (!/^[0-9a-f]{4,40}$/.test(prefix)) throw new UserError(`"${prefix}" is not a revision (4 to 40 hex digits)`);
  const known = new Set(states.flatMap((s) => s.releases.filter((r) => r.complete).map((r) => r.sha)));
  const matches = [...known].filter((sha) => sha.startsWith(prefix));
  if (matches.length === 0) throw new UserError(`no host keeps a release ${prefix}`);
  if (matches.length > 1) throw new UserError(`${prefix} is ambiguous: ${matches.map((m) => m.slice(0, 10)).join(", ")}`);
  return matches[0]!;
}

/** Groups problems by cause: "unreachable: web[03,07]; restart failed with exit code 1: web12". */
export function groupProblems(problems: readonly HostProblem[]): string {
  const groups = new Map<string, string[]>();
  for (const p of problems) {
    const cause =
      p.kind === "failed" ? `${p.step} failed${p.exitCode !== undefined ? ` (exit ${p.exitCode})` : ""}`
      : p.kind === "timeout" ? `${p.step === "connect" ? "SSH handshake" : p.step} timed out`
      : p.kind === "hostkey" ? "host key refused"
      : p.kind === "auth" ? "SSH login refused"
      : p.kind === "protocol" ? `connection lost during ${p.step}`
      : "unreachable";
    groups.set(cause, [...(groups.get(cause) ?? []), p.host]);
  }
  return [...groups].map(([cause, hosts]) => `${cause}: ${compressHosts(hosts)}`).join("; ");
}

function summarize(s: { state: DeployState; ok: number; total: number; problems: readonly HostProblem[]; rolledBack: readonly string[]; halted: string | null; ms: number }): string {
  const parts = [`${s.state}: ${s.ok}/${s.total} hosts ok in ${formatDuration(s.ms)}`];
  if (s.halted) parts.push(`halted (${s.halted})`);
  if (s.rolledBack.length) parts.push(`rolled back ${compressHosts(s.rolledBack)}`);
  if (s.problems.length) parts.push(groupProblems(s.problems));
  return parts.join("; ");
}
