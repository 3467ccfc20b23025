// What the metrics say about deploys: a marker for every deploy and rollback; after a full deploy, wait
// the app's window, judge after vs before, tell the channel and the SAL, and roll back (or recommend
// it) on WORSE; at the canary gate, judge the canaries against the hosts not yet deployed.
// Subscribes to DeployService (its DeployWatcher hook); never fails or delays a deploy's own outcome.

import type { Logger } from "pino";
import type { AppConfig, Config } from "../config/schema.js";
import type { CanaryQuestion, DeployWatcher, FinishedOperation, GateOpinion } from "../deploys/service.js";
import type { SalService } from "../sal/service.js";
import { shortSha as short } from "../git/commit-range.js";
import type { DeployMarkers } from "./markers.js";
import { beforeAfter, canaryVsRest, changedLines, metricLine, summaryWords, type DeployVerdict, type Sources } from "./verdict.js";

export interface VerdictRecord {
  readonly deployId: number;
  readonly app: string;
  readonly stage: "canary" | "after";
  /** ISO time the verdict was reached. */
  readonly at: string;
  readonly verdict: DeployVerdict;
  readonly windows: { readonly baseline: readonly [number, number]; readonly candidate: readonly [number, number] };
  /** What the bot did about it: "rolled back", "recommended !rollback", "asked", ... */
  readonly action: string | null;
}

/** Recent verdicts by deploy, for the deploy page (the SAL entry is the durable record). */
export class VerdictBook {
  private readonly byDeploy = new Map<number, VerdictRecord[]>();
  constructor(private readonly keep = 1000) {}

  add(r: VerdictRecord): void {
    this.byDeploy.set(r.deployId, [...(this.byDeploy.get(r.deployId) ?? []), r]);
    while (this.byDeploy.size > this.keep) this.byDeploy.delete(this.byDeploy.keys().next().value!);
  }

  get(deployId: number): readonly VerdictRecord[] {
    return this.byDeploy.get(deployId) ?? [];
  }
}

export interface DeployMetricsDeps {
  readonly config: Config;
  readonly sources: Sources;
  readonly markers: DeployMarkers;
  readonly book: VerdictBook;
  readonly sal: SalService;
  readonly log: Logger;
  readonly announce: (channel: string, text: string) => void;
  /** Rolls the app back as the bot (DeployService.rollback); resolves with its answer lines. */
  readonly rollback: (op: FinishedOperation, reason: string) => Promise<readonly string[]>;
  readonly now: () => number;
  /** Resolves after ms, or rejects when the signal aborts (at shutdown). */
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly deployUrl: (id: number) => string;
  readonly graphsUrl: (app: string) => string;
  readonly countVerdict: (labels: { app: string; stage: string; verdict: string }) => void;
}


export class DeployMetrics implements DeployWatcher {
  private readonly stopping = new AbortController();
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly d: DeployMetricsDeps) {}

  private app(name: string): AppConfig | undefined {
    return this.d.config.apps[name];
  }

  finished(op: FinishedOperation): void {
    const work = (async () => {
      await this.d.markers.mark({ app: op.app, kind: op.kind, deployId: op.deployId, from: op.from, to: op.to, nick: op.nick, reason: op.reason, state: op.state, when: op.startedAt });
      const app = this.app(op.app);
      if (op.kind === "deploy" && op.state === "succeeded" && app && app.metrics.length) await this.judgeAfter(op, app);
    })()
      .catch((e: unknown) => {
        if (this.stopping.signal.aborted) this.d.log.info({ app: op.app, deployId: op.deployId }, "metric verdict abandoned at shutdown");
        else this.d.log.error({ err: e, app: op.app, deployId: op.deployId }, "metric verdict failed");
      })
      .finally(() => this.pending.delete(work));
    this.pending.add(work);
  }

  private async judgeAfter(op: FinishedOperation, app: AppConfig): Promise<void> {
    const w = app.verdict.windowMin * 60_000;
    const channel = op.channel;
    const settled = op.finishedAt + app.verdict.settleSec * 1000;
    const candidate = [settled, settled + w] as const;
    const baseline = [op.startedAt - w, op.startedAt] as const;
    this.d.announce(channel, `metrics: judging ${op.app} #${op.deployId} at ${new Date(candidate[1]).toISOString().slice(11, 16)} UTC (${app.verdict.windowMin} min after vs before) ${this.d.graphsUrl(op.app)}`);
    // Wait for the window to end, plus a step for the last scrape to land.
    await this.d.sleep(Math.max(0, candidate[1] + app.verdict.stepSec * 1000 - this.d.now()), this.stopping.signal);
    const verdict = await beforeAfter(app.metrics, this.d.sources, { from: baseline[0], to: baseline[1] }, { from: candidate[0], to: candidate[1] }, app.verdict, this.d.config.metrics.maxLagSec, this.stopping.signal);
    this.d.countVerdict({ app: op.app, stage: "after", verdict: verdict.overall });
    const worse = verdict.overall === "WORSE";
    const action = !worse ? null : app.verdict.onWorse === "rollback" ? "rolled back automatically" : `recommended !rollback ${op.app}`;
    this.d.book.add({ deployId: op.deployId, app: op.app, stage: "after", at: new Date(this.d.now()).toISOString(), verdict, windows: { baseline, candidate }, action });
    const range = `${short(op.from)}..${short(op.to)}`;
    this.d.announce(channel, `metrics for deploy #${op.deployId} ${op.app} ${range}: ${summaryWords(verdict)} ${this.d.deployUrl(op.deployId)}`);
    for (const line of changedLines(verdict)) this.d.announce(channel, line);
    const evidence = verdict.metrics.filter((m) => m.verdict === "WORSE").map(metricLine).join("; ");
    await this.sal(`Metrics after deploy #${op.deployId} ${op.app} ${range}: ${summaryWords(verdict)}${changedLines(verdict).length ? `: ${changedLines(verdict).join("; ")}` : ""}`, op);
    if (!worse) return;
    if (app.verdict.onWorse === "recommend") {
      this.d.announce(channel, `${op.nick}: deploy #${op.deployId} made ${op.app} worse (${evidence}): recommend !rollback ${op.app} -- metrics worse after #${op.deployId}`);
      return;
    }
    const reason = `automatic: metrics WORSE after deploy #${op.deployId} (${evidence})`;
    this.d.announce(channel, `rolling back ${op.app} automatically (verdict.onWorse: rollback): ${evidence}`);
    try {
      const lines = await this.d.rollback(op, reason);
      for (const l of lines) this.d.announce(channel, l);
    } catch (e) {
      this.d.announce(channel, `the automatic rollback of ${op.app} could not run: ${(e as Error).message}. !rollback ${op.app} by hand`);
      this.d.log.error({ err: e, app: op.app }, "automatic rollback failed");
    }
  }

  /** The metric half of the canary gate: null when the app has nothing to judge there. */
  async canaryGate(q: CanaryQuestion): Promise<GateOpinion | null> {
    const app = this.app(q.app);
    if (!app || app.verdict.canaryWindowMin <= 0 || !app.metrics.some((m) => m.perHostQuery)) return null;
    const w = app.verdict.canaryWindowMin * 60_000;
    const settle = app.verdict.settleSec * 1000;
    const started = this.d.now() + settle;
    const after = settle ? `, from ${app.verdict.settleSec} s after the switch` : "";
    this.d.announce(q.channel, `metrics: judging the canaries of ${q.app} #${q.deployId} (${q.canaries.join(", ")}) against ${q.others.length} other host${q.others.length === 1 ? "" : "s"} for ${app.verdict.canaryWindowMin} min${after}`);
    const signal = AbortSignal.any([this.stopping.signal, q.signal]);
    // Wait for the window to end, plus a step for the last scrape to land.
    await this.d.sleep(settle + w + app.verdict.stepSec * 1000, signal);
    const window = { from: started, to: started + w };
    const verdict = await canaryVsRest(app.metrics, this.d.sources, q.canaries, q.others, window, app.verdict, this.d.config.metrics.maxLagSec, signal);
    if (!verdict) return null;
    this.d.countVerdict({ app: q.app, stage: "canary", verdict: verdict.overall });
    const worse = verdict.overall === "WORSE";
    const rollback = worse && app.verdict.canaryOnWorse === "rollback";
    this.d.book.add({ deployId: q.deployId, app: q.app, stage: "canary", at: new Date(this.d.now()).toISOString(), verdict, windows: { baseline: [window.from, window.to], candidate: [window.from, window.to] }, action: !worse ? null : rollback ? "rolled back automatically" : "asked the channel" });
    const changed = changedLines(verdict);
    this.d.announce(q.channel, `canary metrics for deploy #${q.deployId} ${q.app}: ${summaryWords(verdict)}`);
    for (const line of changed) this.d.announce(q.channel, line);
    await this.sal(`Canary metrics for deploy #${q.deployId} ${q.app}: ${summaryWords(verdict)}${changed.length ? `: ${changed.join("; ")}` : ""}`, { deployId: q.deployId, nick: q.nick, channel: q.channel });
    if (!worse) return null;
    return { why: `canary metrics WORSE: ${verdict.metrics.filter((m) => m.verdict === "WORSE").map(metricLine).join("; ")}`, rollback };
  }

  private async sal(message: string, op: { deployId: number; nick: string; channel: string }): Promise<void> {
    try {
      await this.d.sal.log({ nick: op.nick, channel: op.channel, message, source: "deploy", deployId: op.deployId });
    } catch (e) {
      this.d.log.error({ err: e }, "could not write the metric verdict to the SAL");
    }
  }

  /** At shutdown: pending verdicts are abandoned (logged), markers in flight finish. */
  async close(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled([...this.pending]);
  }

  /** Resolves when no verdict is pending (tests). */
  async settle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}
