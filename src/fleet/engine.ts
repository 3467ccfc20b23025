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
import { runStep, type StepResult, type StepRunnerDeps } from "./host-runner.js";
import { resolveHosts } from "./inventory.js";
import type { Blocker, DeployJournal, DeployRecord, DeployState } from "./journal.js";
import { failureBudget, planStages, type Stage } from "./plan.js";
import type { Host, RemoteShell } from "./remote-shell.js";
import { Semaphore } from "./semaphore.js";
import type { SmokeChecker } from "./smoke.js";
import { parseActivate, parseCensus, parsePrepare, PREPARE_KILL_AFTER_SEC, type HostState, type PrepareReport } from "./steps.js";

/** What the engine needs of the staging repository (src/git/staging.ts). */
export interface StagingPort {
  update(signal?: AbortSignal): Promise<void>;
  stage(ref: string, signal?: AbortSignal): Promise<StagedRevision>;
  bundle(sha: string, haves: readonly string[], signal?: AbortSignal): Promise<Buffer | null>;
  /** The tree of commit `sha`: what a host's new release is verified against. */
  tree(sha: string, signal?: AbortSignal): Promise<string>;
  /** Files that differ between two commits' trees (what a release made from `from` wrote to become `to`). */
  changedFiles(from: string, to: string, signal?: AbortSignal): Promise<number>;
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
  /** The census it read: the deploy that follows reuses it (see DeployRequest.census). */
  readonly census: CensusReading;
}

/**
 * A census as a preview read it, for the deploy that follows. A deploy reuses each host's entry
 * instead of reading the host again (one SSH channel a host less) when no deploy or rollback of the
 * app began or finished since (`mark`, from the journal) and it is at most CENSUS_REUSE_MS old; hosts
 * that did not answer it are read again.
 */
export interface CensusReading {
  readonly entries: readonly CensusEntry[];
  /** The engine's clock when the census began. */
  readonly at: number;
  /** The app's latest deploy in the journal ("none", or its id); null if it was running then. */
  readonly mark: string | null;
}

/** How old a preview's census may be for its deploy to reuse it (a !deploy waits up to 60 s for !yes). */
export const CENSUS_REUSE_MS = 120_000;

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
  /** The preview's census (DeployPreview.census): reused when still true, see CensusReading. */
  readonly census?: CensusReading;
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
  /** Hosts whose release was built in full although a warm build was expected, and why. */
  readonly fallbacks: ReadonlyArray<{ readonly host: string; readonly reason: string }>;
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
      record: (host: string, step: string, r: StepResult, detail?: string | null) => {
        if (deployId === null) return;
        this.deps.journal.step({ deployId, host, step, outcome: r.ok ? "ok" : r.problem.kind, ms: r.ms, detail: r.ok ? (detail ?? null) : [r.problem.message, r.problem.stderrTail].filter(Boolean).join("\n") });
        emit({ type: "host-step", deployId, host, step, ok: r.ok, ms: r.ms });
      },
    };
  }

  /** What a census reading must match to be reused: the app's latest journal entry, if it is finished. */
  private journalMark(app: string): string | null {
    const latest = this.deps.journal.list(app, 1)[0];
    return !latest ? "none" : latest.state === "running" ? null : String(latest.id);
  }

  /** The entries of a preview's census that a deploy may reuse (hosts that answered it), or none. */
  private reusable(app: string, reading: CensusReading | undefined): Map<string, CensusEntry> | undefined {
    if (!reading || reading.mark === null || reading.mark !== this.journalMark(app)) return undefined;
    if (this.deps.now() - reading.at > CENSUS_REUSE_MS) return undefined;
    return new Map(reading.entries.filter((e) => e.state !== null).map((e) => [e.host, e]));
  }

  /** Reads the live release on every host of the app (in parallel, bounded), honest about failures. */
  async census(appName: string, signal?: AbortSignal): Promise<CensusEntry[]> {
    return Promise.all(this.censusEach(appName, signal).values());
  }

  /**
   * The census of each host, as it comes: a host that is slow to answer holds no other. `limit` bounds
   * the hosts worked on at once; a deploy passes its own, so census and shipping together never exceed
   * the app's concurrency (the census, queued first, runs first).
   */
  private censusEach(appName: string, signal?: AbortSignal, limit?: Semaphore, known?: ReadonlyMap<string, CensusEntry>): Map<string, Promise<CensusEntry>> {
    const app = this.app(appName);
    limit ??= new Semaphore(app.concurrency);
    const deps = this.step(null, app, () => {});
    return new Map(
      this.hosts(appName).map((h) => [
        h.name,
        known?.has(h.name) ? Promise.resolve(known.get(h.name)!) : limit.run(async (): Promise<CensusEntry> => {
          const r = await runStep(deps, h, "census", [this.deps.basePath(h, app)], { timeoutSec: app.timeouts.censusSec, signal });
          return r.ok ? { host: h.name, state: parseCensus(r.lines), problem: null } : { host: h.name, state: null, problem: r.problem };
        }),
      ]),
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
    // Every host's census starts now, and each host is shipped to as soon as its own census answered
    // and its stage came: a host still connecting (a dead one, a tarpit) holds no other, and is left
    // out if its census fails. Only a first deploy (the journal knows no live release) waits for all,
    // to name what runs now.
    const limit = new Semaphore(app.concurrency);
    const censusOf = this.censusEach(req.app, req.signal, limit, this.reusable(req.app, req.census));
    const hostNames = [...censusOf.keys()];
    const live = this.deps.journal.live(req.app)?.sha;
    const from = live ?? majority((await Promise.all(censusOf.values())).map((c) => c.state?.current ?? null));
    const begun = this.deps.journal.begin({ app: req.app, kind: "deploy", ref: req.ref ?? app.branch, fromSha: from, toSha: staged.sha, reason: req.reason, nick: req.nick });
    if (!begun.ok) throw new UserError(describeBlocker(begun.blocker, this.deps.now()));
    const deploy = begun.deploy;
    const hostsByName = new Map(this.hosts(req.app).map((h) => [h.name, h]));
    const leftOut: HostProblem[] = [];
    emit({ type: "started", deployId: deploy.id, app: req.app, kind: "deploy", from, to: staged.sha, hosts: hostNames.length });

    const stepDeps = this.step(deploy.id, app, emit);
    const tree = await staging.tree(staged.sha, req.signal);
    // one bundle for each set of haves, not one a host
    const bundle = memo((key) => staging.bundle(staged.sha, key ? key.split(",") : [], req.signal));
    const bundleFor = (haves: readonly string[]) => bundle([...haves].sort().join(","));
    // The files a release made from an older one had to write: counted here, once for each release
    // made from, not on every host; unknown (null) if staging no longer has that release's commit.
    const changedFrom = memo((sha) => staging.changedFiles(sha, staged.sha, req.signal).catch(() => null));
    let bytesSent = 0;
    const switched: Array<{ host: Host; previous: string | null }> = [];
    const ok: string[] = [];
    const problems: HostProblem[] = [];

    const fallbacks: Array<{ host: string; reason: string }> = [];
    const shipTo = async (host: Host, state: HostState): Promise<HostProblem | null> => {
      const base = this.deps.basePath(host, app);
      let bundle = state.haves.includes(staged.sha) ? null : await bundleFor(state.haves);
      // The journal's line for prepare is written the moment the host reports it: the changed-file
      // counts of the releases it may be made from are looked up before (in staging, once a release).
      const counts = new Map<string, number | null>();
      await Promise.all(state.releases.filter((r) => r.complete).map(async (r) => counts.set(r.sha, await changedFrom(r.sha))));
      let rebuilt: string | null = null;
      const ship = (reset: boolean) =>
        this.ship(stepDeps, host, app, { base, sha: staged.sha, tree, bundle, reset, describe: (r) => describePrepare(r, r.from ? (counts.get(r.from) ?? null) : null, rebuilt) }, req.signal);
      let shipped = await ship(false);
      bytesSent += shipped.bytesSent;
      const p = shipped.prepared ? null : shipped.problem;
      if (p?.kind === "failed" && p.step === "prepare" && (p.exitCode === 4 || p.exitCode === 5)) {
        // The host's cache repository is damaged, or lacks what census said it had: start it afresh from a full bundle.
        rebuilt = p.message;
        bundle = await bundleFor([]);
        shipped = await ship(true);
        bytesSent += shipped.bytesSent;
      }
      if (shipped.switched) switched.push({ host, previous: state.current });
      if (!shipped.prepared) {
        const problem = shipped.problem!;
        stepDeps.record(host.name, "prepare", { ok: false, ms: shipped.ms, problem });
        return problem;
      }
      const report = shipped.prepared;
      if (rebuilt) fallbacks.push({ host: host.name, reason: `cache repository rebuilt (${rebuilt})` });
      else if (report.fallback && report.fallback !== NO_LIVE_RELEASE) fallbacks.push({ host: host.name, reason: shortShas(report.fallback) });
      if (shipped.problem) return shipped.problem;
      if (app.smoke.length) {
        const t = this.deps.now();
        const why = await this.deps.smoke.check(host, staged.sha, app.smoke, req.signal);
        const result: StepResult = why === null ? { ok: true, lines: [], ms: this.deps.now() - t } : { ok: false, ms: this.deps.now() - t, problem: { host: host.name, kind: "failed", step: "smoke", message: `smoke check failed: ${why}` } };
        stepDeps.record(host.name, "smoke", result);
        if (!result.ok) return result.problem;
      }
      return null;
    };

    let halted: string | null = null;
    const stages = planStages(hostNames, app.canaries, app.batchSize);
    /** Ships to these hosts of a stage; a batch stops starting hosts once over its budget. */
    const runHosts = async (stage: Stage, names: readonly string[]): Promise<{ problems: HostProblem[]; overBudget: boolean }> => {
      const budget = stage.kind === "canary" ? Infinity : failureBudget(app.failureBudget, stage.hosts.length);
      const stageProblems: HostProblem[] = [];
      let stop = false;
      await Promise.all(
        names.map(async (name) => {
          // The host's census first, outside the limit: a slot is never held waiting for a census that
          // itself waits for a slot.
          const census = await censusOf.get(name)!;
          const state = census.state;
          if (!state) {
            // unreachable, timed out, host key refused: left out of this and later stages, and of any
            // rollback; not a failure of the stage (the host was never touched)
            if (!leftOut.some((p) => p.host === name)) {
              leftOut.push(census.problem!);
              emit({ type: "left-out", deployId: deploy.id, problems: [census.problem!] });
            }
            return;
          }
          await limit.run(async () => {
            if (stop || req.signal?.aborted) return; // over budget: start no new hosts
            const host = hostsByName.get(name)!;
            const t = this.deps.now();
            const problem = await shipTo(host, state);
            emit({ type: "host-done", deployId: deploy.id, host: name, ok: problem === null, ms: this.deps.now() - t, ...(problem ? { problem } : {}) });
            if (problem) {
              stageProblems.push(problem);
              if (stageProblems.length > budget) stop = true;
            } else ok.push(name);
          });
        }),
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
            const r = await this.activate(stepDeps, t.host, app, t.previous);
            if (r.problem) return void problems.push({ ...r.problem, step: r.problem.step === "restart" ? "rollback restart" : "rollback" });
            rolledBack.push(t.host.name);
          }),
        ),
      );
      state = req.signal?.aborted ? "aborted" : "rolled-back";
    } else if (halted) state = req.signal?.aborted ? "aborted" : "failed";
    else state = ok.length > 0 ? "succeeded" : "failed"; // nothing deployed anywhere is never a success

    // Hosts of stages that never ran (halted, aborted): their census still says whether they were
    // reachable. Awaited after any rollback, so a slow host never delays one.
    for (const [name, pending] of censusOf) {
      const c = await pending;
      if (c.problem && !leftOut.some((p) => p.host === name)) {
        leftOut.push(c.problem);
        emit({ type: "left-out", deployId: deploy.id, problems: [c.problem] });
      }
    }
    const all = [...problems, ...leftOut];
    const summary = summarize({ state, ok: ok.length, total: hostNames.length, problems: all, rolledBack, halted, fallbacks, ms: this.deps.now() - started });
    this.deps.journal.finish(deploy.id, state, summary, state === "succeeded" ? { app: req.app, sha: staged.sha } : undefined);
    emit({ type: "finished", deployId: deploy.id, state, summary });
    return { deploy: this.deps.journal.get(deploy.id)!, hosts: hostNames.length, state, staged, from, to: staged.sha, ok, problems: all, rolledBack, ms: this.deps.now() - started, bytesSent, fallbacks, summary };
  }

  /** Stages the ref and reads the fleet: what a deploy would ship, touching nothing. */
  async preview(appName: string, ref: string | undefined, signal?: AbortSignal): Promise<DeployPreview> {
    const app = this.app(appName);
    const staging = this.deps.staging(appName);
    await staging.update(signal);
    const staged = await staging.stage(ref ?? app.branch, signal);
    const at = this.deps.now();
    const mark = this.journalMark(appName);
    const census = await this.census(appName, signal);
    const currents = census.map((c) => c.state?.current ?? null);
    // What runs now: the journal's live release; after an interrupted deploy, what the hosts not yet on
    // the target run (null when they run nothing: a first deploy).
    const from = this.deps.journal.live(appName)?.sha ?? (currents.every((c) => c === staged.sha) ? staged.sha : majority(currents.filter((c) => c !== staged.sha)));
    const range = await staging.range(from, staged.sha, { limit: 50, ...(signal ? { signal } : {}) });
    return {
      app: appName, ref: ref ?? app.branch, staged, from, range, hosts: census.length, reachable: census.filter((c) => c.state).length,
      onTarget: currents.filter((c) => c === staged.sha).length, problems: census.flatMap((c) => (c.problem ? [c.problem] : [])),
      census: { entries: census, at, mark },
    };
  }

  /**
   * Switches current back on every host, without fetching: seconds, not minutes. The target comes from
   * the journal (the release before the live one, or a revision it knows) so a rollback is one exec a
   * host, over the connections a deploy or census left open; only when the journal cannot say (no live
   * release recorded, an unknown abbreviation) does it read the fleet first.
   */
  async rollback(req: RollbackRequest): Promise<OperationResult> {
    const app = this.app(req.app);
    const started = this.deps.now();
    const emit = req.onEvent ?? (() => {});
    const hosts = this.hosts(req.app);
    const recorded = this.deps.journal.live(req.app);
    let live = recorded?.sha ?? null;
    let to = req.to ? this.journalRevision(req.app, req.to) : recorded ? this.deps.journal.get(recorded.deployId)?.fromSha ?? null : null;
    let targets: readonly Host[] = hosts;
    const problems: HostProblem[] = [];
    if (!to) {
      const census = await this.census(req.app, req.signal);
      const reachable = census.filter((c) => c.state !== null);
      live ??= majority(reachable.map((c) => c.state!.current));
      to = req.to ? resolveRelease(req.to, reachable.map((c) => c.state!)) : majority(reachable.map((c) => c.state!.previous));
      if (!to) throw new UserError(`no previous release of ${req.app} to roll back to`);
      problems.push(...census.flatMap((c) => (c.problem ? [c.problem] : [])));
      targets = hosts.filter((h) => reachable.some((c) => c.host === h.name));
    }
    const target = to;
    const begun = this.deps.journal.begin({ app: req.app, kind: "rollback", ref: req.to ?? null, fromSha: live, toSha: target, reason: req.reason, nick: req.nick });
    if (!begun.ok) throw new UserError(describeBlocker(begun.blocker, this.deps.now()));
    const deploy = begun.deploy;
    emit({ type: "started", deployId: deploy.id, app: req.app, kind: "rollback", from: live, to: target, hosts: hosts.length });
    const stepDeps = this.step(deploy.id, app, emit);
    const limit = new Semaphore(Math.max(app.concurrency, 64));
    const ok: string[] = [];
    await Promise.all(
      targets.map((host) =>
        limit.run(async () => {
          const t = this.deps.now();
          const r = await this.activate(stepDeps, host, app, target, req.signal);
          const problem = r.problem?.exitCode === 4 && r.problem.step === "promote" ? { ...r.problem, message: `does not keep release ${target.slice(0, 7)}` } : r.problem;
          emit({ type: "host-done", deployId: deploy.id, host: host.name, ok: problem === null, ms: this.deps.now() - t, ...(problem ? { problem } : {}) });
          if (problem) problems.push(problem);
          else ok.push(host.name);
        }),
      ),
    );
    const state: DeployState = problems.length === 0 ? "succeeded" : "failed";
    const summary = summarize({ state, ok: ok.length, total: hosts.length, problems, rolledBack: [], halted: null, fallbacks: [], ms: this.deps.now() - started });
    this.deps.journal.finish(deploy.id, state, summary, ok.length ? { app: req.app, sha: target } : undefined);
    emit({ type: "finished", deployId: deploy.id, state, summary });
    return { deploy: this.deps.journal.get(deploy.id)!, hosts: hosts.length, state, staged: null, from: live, to: target, ok, problems, rolledBack: [], ms: this.deps.now() - started, bytesSent: 0, fallbacks: [], summary };
  }

  /** A revision of the app the journal knows (deployed or replaced), by full or abbreviated SHA; null when it cannot tell. */
  private journalRevision(app: string, prefix: string): string | null {
    if (!/^[0-9a-f]{4,40}$/.test(prefix)) throw new UserError(`"${prefix}" is not a revision (4 to 40 hex digits)`);
    const known = new Set(this.deps.journal.list(app, 1000).flatMap((d) => [d.toSha, d.fromSha]).filter((s): s is string => s !== null && s.startsWith(prefix)));
    return known.size === 1 ? [...known][0]! : null;
  }

  /** The deadline of promote, restart and (keep > 0) prune on one host, in seconds. */
  private activateSec(app: AppConfig, keep: number): number {
    const t = app.timeouts;
    return t.promoteSec + (app.restart ? t.restartSec : 0) + (keep > 0 ? t.promoteSec : 0);
  }

  /**
   * Promote and restart on one host in one exec, pruning nothing (a rollback: a deploy's own switch is
   * ship's second part); the journal gets promote and restart as their own steps. `switched`: current
   * may now point at sha (a host that timed out or dropped mid-step counts, so a rollback of switched
   * hosts never misses one).
   */
  private async activate(d: StepRunnerDeps, host: Host, app: AppConfig, sha: string, signal?: AbortSignal): Promise<Activation> {
    const promoted = promoteRecorder(d, host);
    const timeoutSec = this.activateSec(app, 0);
    const r = await runStep(d, host, "activate", [this.deps.basePath(host, app), sha, app.restart ?? "", "0"], { timeoutSec, signal, record: false, onLine: promoted.onLine });
    return judgeActivation(d, host, app, r, promoted.record, timeoutSec);
  }

  /**
   * A deploy's work on one host in one exec (the step "ship": prepare, then promote, restart and prune):
   * one SSH channel a host instead of two. The journal gets prepare, promote and restart as their own
   * steps, each the moment the host reports it, as if they had run apart. Each part keeps its own
   * deadline: prepare's is on the host (timeout(1), as when it runs alone); activate's starts when
   * prepare reports, and is kept here.
   */
  private async ship(d: StepRunnerDeps, host: Host, app: AppConfig, s: ShipArgs, signal?: AbortSignal): Promise<Shipped> {
    const t = app.timeouts;
    const activateSec = this.activateSec(app, app.keep);
    const started = this.deps.now();
    const seen: string[] = [];
    let prepared: PrepareReport | null = null;
    let preparedMs = 0;
    const promoted = promoteRecorder(d, host);
    // activate's deadline: from prepare's report on, the rest of the step has activateSec
    const phase = new AbortController();
    let phaseTimer: NodeJS.Timeout | undefined;
    const onLine = (line: string) => {
      if (prepared) return promoted.onLine(line);
      seen.push(line);
      if (!line.startsWith("state ")) return;
      prepared = parsePrepare(seen);
      preparedMs = this.deps.now() - started;
      d.record(host.name, "prepare", { ok: true, lines: seen, ms: preparedMs }, s.describe(prepared));
      phaseTimer = setTimeout(() => phase.abort(), activateSec * 1000);
    };
    const args = [s.base, s.sha, s.bundle ? "1" : "0", s.reset ? "reset" : "", s.tree, String(app.keep), app.restart ?? "", String(app.keep)];
    // prepare's deadline and timeout(1)'s grace after it, then activate's; the phase timer comes first
    const timeoutSec = t.prepareSec + PREPARE_KILL_AFTER_SEC + activateSec;
    const r = await runStep(d, host, "ship", args, { timeoutSec, hostDeadlineSec: t.prepareSec, stdin: s.bundle ?? undefined, signal: signal ? AbortSignal.any([signal, phase.signal]) : phase.signal, record: false, onLine }).finally(() => clearTimeout(phaseTimer));
    if (!prepared) {
      // The step ended before prepare reported: a prepare that failed said so ("prepare exit N") and
      // nothing was switched. If the connection was lost, or the step was stopped without the host
      // confirming the kill, the host may have gone on to switch: a rollback of switched hosts includes it.
      const maybeSwitched = !r.ok && r.problem.step !== "connect" && (r.problem.kind === "protocol" || (r.problem.kind === "timeout" && r.killed !== true));
      return { prepared: null, problem: prepareProblem(host, r, t.prepareSec), ms: r.ms, bytesSent: r.bytesSent, switched: maybeSwitched };
    }
    // activate's part of the step, as if it had run alone: its own duration, its own deadline's words
    const killedAtPhase = phase.signal.aborted && !signal?.aborted && !r.ok && r.problem.kind === "timeout";
    const ms = Math.max(0, r.ms - preparedMs);
    const result: StepResult = r.ok ? { ...r, ms } : { ...r, ms, ...(killedAtPhase ? { problem: { ...r.problem, step: "activate", message: `activate timed out after ${activateSec}s (killed on the host)` } } : {}) };
    const activation = judgeActivation(d, host, app, result, promoted.record, activateSec);
    return { prepared, problem: activation.problem, ms: r.ms, bytesSent: r.bytesSent, switched: activation.switched };
  }
}

interface Activation {
  readonly switched: boolean;
  readonly problem: HostProblem | null;
}

interface ShipArgs {
  readonly base: string;
  readonly sha: string;
  readonly tree: string;
  readonly bundle: Buffer | null;
  readonly reset: boolean;
  /** The journal's words for what prepare did. */
  readonly describe: (r: PrepareReport) => string;
}

interface Shipped extends Activation {
  /** What prepare reported (and journaled); null when it failed: problem says why, for the caller to journal. */
  readonly prepared: PrepareReport | null;
  readonly ms: number;
  readonly bytesSent: number;
}

/** Journals a host's switch the moment it reports it (while its restart runs), once. */
function promoteRecorder(d: StepRunnerDeps, host: Host) {
  let done = false;
  const record = (was: string | null, ms: number) => {
    if (done) return;
    done = true;
    d.record(host.name, "promote", { ok: true, lines: [], ms }, was ? `was ${was.slice(0, 10)}` : null);
  };
  const onLine = (line: string) => {
    const early = line.startsWith("promoted ") ? parseActivate([line]) : null;
    if (early) record(early.was, early.promoteMs);
  };
  return { record, onLine };
}

/** Why ship's prepare part failed, from how the step ended (its "prepare exit N" line, or the step's own failure). */
function prepareProblem(host: Host, r: StepResult, prepareSec: number): HostProblem {
  const lines = r.ok ? r.lines : (r.lines ?? []);
  const exit = lines.find((l) => l.startsWith("prepare exit "));
  const code = exit ? Number(exit.slice("prepare exit ".length)) : undefined;
  const stderrTail = (r.ok ? r.stderrTail : r.problem.stderrTail) ?? "";
  const last = stderrTail.split("\n").filter(Boolean).at(-1);
  if (code === 124 || code === 137) return { host: host.name, kind: "timeout", step: "prepare", message: `prepare timed out after ${prepareSec}s (killed on the host)`, exitCode: code, stderrTail };
  if (code !== undefined) return { host: host.name, kind: "failed", step: "prepare", message: `prepare failed with exit code ${code}${last ? `: ${last}` : ""}`, exitCode: code, stderrTail };
  if (r.ok) return { host: host.name, kind: "failed", step: "prepare", message: "prepare printed no result" };
  return { ...r.problem, step: r.problem.step === "ship" ? "prepare" : r.problem.step, message: r.problem.message.replace(/^ship/, "prepare") };
}

/**
 * What an exec of activate (alone, or as ship's second part) did: the switch, the restart's outcome.
 * `timeoutSec` is activate's deadline, for the words of a restart killed at it.
 */
function judgeActivation(d: StepRunnerDeps, host: Host, app: AppConfig, r: StepResult, recordPromote: (was: string | null, ms: number) => void, timeoutSec: number): Activation {
  const lines = r.ok ? r.lines : (r.lines ?? null);
  const exit = r.ok ? { code: 0, ms: r.ms } : r.problem.kind === "failed" && r.problem.exitCode !== undefined ? { code: r.problem.exitCode, ms: r.ms } : undefined;
  const report = lines ? parseActivate(lines, exit) : null;
  const tail = (r.ok ? r.stderrTail : r.problem.stderrTail) ?? "";
  if (!report) {
    const problem: HostProblem = r.ok
      ? { host: host.name, kind: "failed", step: "promote", message: "promote printed no result" }
      : { ...r.problem, step: r.problem.step === "activate" || r.problem.step === "ship" ? "promote" : r.problem.step, message: r.problem.message.replace(/^(activate|ship)/, "promote") };
    d.record(host.name, "promote", { ok: false, ms: r.ms, problem });
    // A host that timed out or dropped mid-step may have switched: a rollback of switched hosts includes it.
    return { switched: problem.kind === "timeout" || problem.kind === "protocol", problem };
  }
  recordPromote(report.was, report.promoteMs);
  if (!app.restart) return { switched: true, problem: null };
  const restart = report.restart;
  const problem: HostProblem | null =
    restart?.outcome === "ok" ? null
    : restart ? { host: host.name, kind: "failed", step: "restart", message: `restart failed with exit code ${restart.code}${tail ? `: ${tail.split("\n").at(-1)}` : ""}`, exitCode: restart.code, stderrTail: tail }
    : !r.ok && r.problem.kind === "timeout" ? { host: host.name, kind: "timeout", step: "restart", message: `restart timed out: the switch and restart took over ${timeoutSec}s (killed on the host)`, exitCode: r.problem.exitCode ?? 124, stderrTail: tail }
    : { ...(r.ok ? { host: host.name, kind: "failed" as const, message: "restart printed no result" } : r.problem), step: "restart" };
  d.record(host.name, "restart", problem ? { ok: false, ms: r.ms - report.promoteMs, problem } : { ok: true, lines: [], ms: restart!.ms });
  return { switched: true, problem };
}

/** Why a first deploy to a host builds in full: expected, so not reported as a fallback. */
const NO_LIVE_RELEASE = "no live release";

function describePrepare(r: PrepareReport, changed: number | null, rebuilt: string | null): string {
  const from = r.from?.slice(0, 10) ?? "";
  const written = changed === null ? "the changed files written or removed" : `${changed} files written or removed`;
  const how = r.already
    ? "already there"
    : r.mode === "recycled" ? `recycled release ${from}: ${written}, the rest kept`
    : r.mode === "warm" ? `warm: ${written}, the rest shared with the live release`
    : `full checkout${r.fallback ? ` (${r.fallback})` : ""}`;
  const notes = r.notes.length ? `; ${r.notes.join("; ")}` : "";
  return shortShas(`${how}${notes}${rebuilt ? `; cache repository rebuilt (${rebuilt})` : ""}`);
}

/** A host's words for the journal and the channel: each full SHA cut to its first 10 digits. */
function shortShas(text: string): string {
  return text.replace(/\b([0-9a-f]{10})[0-9a-f]{30}\b/g, "$1");
}

/** `f` called once for each key; later calls share the first call's promise. */
function memo<T>(f: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const made = new Map<string, Promise<T>>();
  return (key) => {
    let p = made.get(key);
    if (!p) made.set(key, (p = f(key)));
    return p;
  };
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

function summarize(s: { state: DeployState; ok: number; total: number; problems: readonly HostProblem[]; rolledBack: readonly string[]; halted: string | null; fallbacks: ReadonlyArray<{ host: string; reason: string }>; ms: number }): string {
  const parts = [`${s.state}: ${s.ok}/${s.total} hosts ok in ${formatDuration(s.ms)}`];
  if (s.halted) parts.push(`halted (${s.halted})`);
  if (s.rolledBack.length) parts.push(`rolled back ${compressHosts(s.rolledBack)}`);
  if (s.problems.length) parts.push(groupProblems(s.problems));
  if (s.fallbacks.length) {
    const byReason = new Map<string, string[]>();
    for (const f of s.fallbacks) byReason.set(f.reason, [...(byReason.get(f.reason) ?? []), f.host]);
    parts.push(`built in full: ${[...byReason].map(([reason, hosts]) => `${compressHosts(hosts)} (${reason})`).join(", ")}`);
  }
  return parts.join("; ");
}
