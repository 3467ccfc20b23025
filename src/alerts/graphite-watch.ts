// Evaluates the config's Graphite watch rules (alerts.watch) on their intervals and turns state changes
// into alert notifications in the durable alert store, under the receiver "watch": from there the
// announcer, grouping, dedupe, routing, deploy correlation, /alerts and !alerts treat them as any
// other alert. A Graphite that fails is one alert of its own (never OK); state survives restarts.

import type { Logger } from "pino";
import { WATCH_RECEIVER, type WatchRule } from "../config/schema.js";
import type { NamedSeries } from "../metrics/graphite.js";
import { MetricError } from "../metrics/source.js";
import { severityRank } from "./alert-format.js";
import type { CurrentAlert } from "./alert-store.js";
import { common, fingerprintOf, type Alert, type AlertNotification } from "./notification.js";
import { advance, QUIET, readings, targetsOf, type SeriesState } from "./watch-state.js";

/** What a rule is evaluated against (GraphiteSource satisfies it). */
export interface WatchSource {
  render(targets: readonly string[], from: number, to: number, signal?: AbortSignal): Promise<NamedSeries[]>;
}

export interface WatchClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface WatchDeps {
  readonly rules: readonly WatchRule[];
  /** The rule's Graphite: its own url, else metrics.graphite. */
  readonly urlOf: (rule: WatchRule) => string;
  /** A client for that Graphite whose calls have the rule's deadline. */
  readonly source: (url: string, timeoutMs: number) => WatchSource;
  /** Stores notifications durably (SqliteAlertStore.record). */
  readonly publish: (notifications: readonly AlertNotification[]) => void;
  /** Alerts stored as firing (SqliteAlertStore.firing): the state left by the last run. */
  readonly firing: () => readonly CurrentAlert[];
  readonly clock: WatchClock;
  readonly log: Logger;
  readonly onEvaluated?: (rule: string, outcome: "ok" | "failed") => void;
  readonly tickMs?: number;
}

/** Graphite queries in flight at once. */
const CONCURRENT = 4;

/** The alertname of a Graphite that cannot be asked, or a rule it refuses. */
export const FAILING = "GraphiteWatchFailing";

interface Open {
  readonly groupKey: string;
  readonly alert: Alert;
}

const iso = (ms: number) => new Date(ms).toISOString();
const hhmm = (ms: number) => `${iso(ms).slice(11, 16)} UTC`;
/** Connection-level failures and 5xx are Graphite's; 4xx and unreadable answers are the rule's. */
const sourceFault = (e: MetricError) => e.kind === "refused" || e.kind === "timeout" || e.kind === "unreachable" || (e.kind === "http" && (e.status ?? 500) >= 500);

export class GraphiteWatch {
  private readonly states = new Map<string, Map<string, SeriesState>>();
  private readonly nextAt = new Map<string, number>();
  /** Graphite URL -> since when and why it fails, and which rules it left unevaluated. */
  private readonly failing = new Map<string, { since: number; why: string; rules: Set<string> }>();
  /** Rule -> the error Graphite answered for its query. */
  private readonly refused = new Map<string, { since: number; why: string }>();
  /** What the store holds as firing, by fingerprint. */
  private readonly open = new Map<string, Open>();
  private timer: unknown = null;
  private running: Promise<void> | null = null;
  private readonly stopping = new AbortController();

  constructor(private readonly deps: WatchDeps) {
    this.resume();
  }

  /** Picks up the state the store holds, so a restart neither repeats nor forgets an alert. */
  private resume(): void {
    for (const a of this.deps.firing()) {
      if (a.receiver !== WATCH_RECEIVER) continue;
      this.open.set(a.fingerprint, { groupKey: a.groupKey, alert: a });
      const rule = this.deps.rules.find((r) => r.name === a.labels.alertname);
      const series = a.labels.series;
      if (!rule || series === undefined) continue;
      const at = Date.parse(a.startsAt);
      const s = this.seriesOf(rule.name).get(series) ?? QUIET;
      const last = a.annotations.summary ?? "";
      this.seriesOf(rule.name).set(series, a.labels.nodata === "true" ? { ...s, nodataSince: at, nodata: true, last } : { ...s, breachSince: at, firing: true, last });
    }
  }

  private seriesOf(rule: string): Map<string, SeriesState> {
    let m = this.states.get(rule);
    if (!m) this.states.set(rule, (m = new Map()));
    return m;
  }

  start(): void {
    const tick = () => {
      this.running ??= this.round()
        .catch((err: unknown) => this.deps.log.error({ err }, "watch round failed"))
        .finally(() => (this.running = null));
      this.timer = this.deps.clock.setTimeout(tick, this.deps.tickMs ?? 1000);
    };
    if (this.timer === null) tick();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) this.deps.clock.clearTimeout(this.timer);
    this.timer = null;
    this.stopping.abort();
    await this.running;
  }

  /** Evaluates the rules that are due, then stores what changed. Public so tests drive it with a fake clock. */
  async round(): Promise<void> {
    const now = this.deps.clock.now();
    const due = this.deps.rules.filter((r) => (this.nextAt.get(r.name) ?? 0) <= now);
    // A few queries at a time (a Holt-Winters band makes graphite-web read days of history), each
    // batch's news stored at once, so a hung Graphite is reported after one deadline, not after all.
    for (let i = 0; i < due.length || i === 0; i += CONCURRENT) {
      const at = this.deps.clock.now();
      await Promise.all(due.slice(i, i + CONCURRENT).map((r) => this.evaluate(r, at)));
      if (this.stopping.signal.aborted) return;
      this.publish(this.deps.clock.now());
    }
  }

  private async evaluate(rule: WatchRule, now: number): Promise<void> {
    this.nextAt.set(rule.name, now + rule.interval);
    const url = this.deps.urlOf(rule);
    let series: NamedSeries[];
    try {
      series = await this.deps.source(url, rule.timeoutMs).render(targetsOf(rule), now - rule.lookback, now, this.stopping.signal);
    } catch (e) {
      if (this.stopping.signal.aborted) return;
      const err = e instanceof MetricError ? e : new MetricError("bad-response", "graphite", (e as Error).message, { cause: e });
      this.deps.onEvaluated?.(rule.name, "failed");
      this.deps.log.warn({ rule: rule.name, url, err: err.message }, "watch rule not evaluated");
      if (sourceFault(err)) {
        const f = this.failing.get(url) ?? { since: now, why: err.message, rules: new Set<string>() };
        this.failing.set(url, { ...f, why: err.message, rules: f.rules.add(rule.name) });
        // Whether the query is still wrong is unknown until Graphite answers: its failure stands for both.
        this.refused.delete(rule.name);
      } else {
        this.failing.delete(url);
        this.refused.set(rule.name, { since: this.refused.get(rule.name)?.since ?? now, why: err.message });
      }
      return;
    }
    this.deps.onEvaluated?.(rule.name, "ok");
    this.failing.delete(url);
    this.refused.delete(rule.name);
    const states = this.seriesOf(rule.name);
    const seen = readings(rule, series, now);
    // A target that matched nothing is tracked under its own text; once series return, theirs replace it.
    if (seen.size > 0 && !seen.has(rule.target)) states.delete(rule.target);
    // Series that were there and are gone say nothing: no data, as does a target that matches nothing.
    for (const name of states.keys()) if (!seen.has(name)) seen.set(name, { kind: "nodata", why: "Graphite returns no such series any more" });
    if (seen.size === 0) seen.set(rule.target, { kind: "nodata", why: "the target matches no series" });
    for (const [name, reading] of seen) states.set(name, advance(states.get(name) ?? QUIET, reading, now, rule));
  }

  /** The alerts that should be firing now, by fingerprint. */
  private desired(now: number): Map<string, Open> {
    const out = new Map<string, Open>();
    for (const rule of this.deps.rules) {
      const url = this.deps.urlOf(rule);
      const link = `${url.replace(/\/+$/, "")}/render?${targetsOf(rule).map((t) => `target=${encodeURIComponent(t)}`).join("&")}&from=-6h`;
      for (const [series, s] of this.states.get(rule.name) ?? []) {
        const node = rule.instanceNode === undefined || series.includes("(") ? undefined : series.split(".")[rule.instanceNode];
        const labels = { ...rule.labels, alertname: rule.name, severity: rule.severity, series, ...(node ? { instance: node } : {}) };
        const annotations = (summary: string) => ({ summary, ...(rule.runbook ? { runbook_url: rule.runbook } : {}) });
        if (s.firing) {
          const fp = fingerprintOf(labels);
          out.set(fp, { groupKey: `watch/${rule.name}`, alert: { status: "firing", labels, annotations: annotations(`${rule.summary ?? rule.target}: ${s.last}`), startsAt: iso(s.breachSince ?? now), endsAt: null, fingerprint: fp, generatorURL: link } });
        }
        if (s.nodata) {
          const l = { ...labels, nodata: "true" };
          out.set(fingerprintOf(l), { groupKey: `watch/${rule.name}/nodata`, alert: { status: "firing", labels: l, annotations: annotations(`${s.last} (since ${hhmm(s.nodataSince ?? now)})`), startsAt: iso(s.nodataSince ?? now), endsAt: null, fingerprint: fingerprintOf(l), generatorURL: link } });
        }
      }
    }
    for (const [url, f] of this.failing) {
      const severity = this.deps.rules.filter((r) => f.rules.has(r.name)).map((r) => r.severity).sort((a, b) => severityRank(a) - severityRank(b))[0] ?? "warning";
      const l = { alertname: FAILING, severity, graphite: url };
      const rules = [...f.rules].sort().join(", ");
      out.set(fingerprintOf(l), { groupKey: `watch/graphite/${url}`, alert: { status: "firing", labels: l, annotations: { summary: `${f.why} (since ${hhmm(f.since)}); not evaluated: ${rules}` }, startsAt: iso(f.since), endsAt: null, fingerprint: fingerprintOf(l), generatorURL: null } });
    }
    for (const [name, r] of this.refused) {
      const rule = this.deps.rules.find((x) => x.name === name)!;
      const url = this.deps.urlOf(rule);
      const l = { alertname: FAILING, severity: rule.severity, graphite: url, rule: name };
      out.set(fingerprintOf(l), { groupKey: `watch/graphite/${url}`, alert: { status: "firing", labels: l, annotations: { summary: `rule ${name}: ${r.why}` }, startsAt: iso(r.since), endsAt: null, fingerprint: fingerprintOf(l), generatorURL: null } });
    }
    return out;
  }

  /** Why an open alert is no longer firing, in the words of its RESOLVED line. */
  private resolvedSummary(a: Alert): string {
    if (a.labels.alertname === FAILING) return "Graphite answers again";
    const rule = this.deps.rules.find((r) => r.name === a.labels.alertname);
    if (!rule) return "the rule is no longer in the config";
    const s = this.states.get(rule.name)?.get(a.labels.series ?? "");
    if (a.labels.nodata === "true") return `data again${s?.last ? `: ${s.last}` : ""}`;
    return `${rule.summary ?? rule.target}: ${s?.last || "back within bounds"}`;
  }

  /** Stores one notification per group whose firing set changed: its firing alerts and those just resolved. */
  private publish(now: number): void {
    const want = this.desired(now);
    const groups = new Map<string, { firing: Alert[]; resolved: Alert[]; changed: boolean }>();
    const group = (key: string) => groups.get(key) ?? groups.set(key, { firing: [], resolved: [], changed: false }).get(key)!;
    for (const [fp, w] of want) {
      const g = group(w.groupKey);
      const was = this.open.get(fp);
      // Keep the first announcement's start and words while it fires.
      g.firing.push(was ? { ...w.alert, startsAt: was.alert.startsAt } : w.alert);
      if (!was) g.changed = true;
    }
    for (const [fp, o] of this.open) {
      if (want.has(fp)) continue;
      const g = group(o.groupKey);
      g.resolved.push({ ...o.alert, status: "resolved", endsAt: iso(now), annotations: { ...o.alert.annotations, summary: this.resolvedSummary(o.alert) } });
      g.changed = true;
    }
    const notifications: AlertNotification[] = [];
    for (const [groupKey, g] of groups) {
      if (!g.changed) continue;
      const alerts = [...g.firing, ...g.resolved];
      const shown = g.firing.length ? g.firing : g.resolved;
      const commonLabels = common(shown.map((a) => a.labels));
      notifications.push({
        receiver: WATCH_RECEIVER, groupKey, status: g.firing.length ? "firing" : "resolved",
        groupLabels: commonLabels.alertname ? { alertname: commonLabels.alertname } : {}, commonLabels,
        commonAnnotations: common(shown.map((a) => a.annotations)), externalURL: null, alerts,
      });
    }
    if (notifications.length === 0) return;
    // Durable first: the open set follows only what the store has taken.
    this.deps.publish(notifications);
    for (const n of notifications) {
      for (const a of n.alerts) {
        if (a.status === "firing") this.open.set(a.fingerprint, { groupKey: n.groupKey, alert: a });
        else this.open.delete(a.fingerprint);
      }
    }
    this.deps.log.info({ groups: notifications.map((n) => `${n.groupKey} ${n.status}`) }, "watch alerts changed");
  }
}
