// A deploy's verdict: each metric of the app read from its source for a baseline and a candidate
// window, judged, and summed up. A failing source, an empty series or a lagging one is NO DATA with
// the reason; the overall verdict is WORSE if any metric is, NO DATA if any metric has none, else
// BETTER or OK. Also the words for the channel and the SAL.

import type { MetricConfig, VerdictConfig } from "../config/schema.js";
import { judge, type Judgement, type Verdict } from "./judge.js";
import { MetricError, type MetricSource, type Point } from "./source.js";

export type Sources = Partial<Record<MetricConfig["source"], MetricSource>>;

export interface MetricVerdict extends Judgement {
  readonly name: string;
  readonly unit: string;
}

export interface DeployVerdict {
  readonly overall: Verdict;
  readonly metrics: readonly MetricVerdict[];
  /** What was compared: "after vs before", "canaries vs other hosts". */
  readonly compared: string;
}

export interface Window {
  readonly from: number;
  readonly to: number;
}

/** The values of one series in a window, or why there are none to use. */
export async function sample(source: MetricSource | undefined, query: string, w: Window, o: { stepSec: number; maxLagSec: number; signal?: AbortSignal | undefined }): Promise<number[] | string> {
  if (!source) return "no source configured";
  let points: Point[];
  try {
    points = await source.range({ query, from: w.from, to: w.to, stepSec: o.stepSec, ...(o.signal ? { signal: o.signal } : {}) });
  } catch (e) {
    if (e instanceof MetricError) return e.message;
    throw e;
  }
  const values = points.filter((p) => p.v !== null);
  if (values.length === 0) return points.length ? `${source.kind}: only empty points` : `${source.kind}: no series for ${query}`;
  const newest = values[values.length - 1]!.t;
  if (w.to - newest > o.maxLagSec * 1000) return `${source.kind}: lagging, the newest point is ${Math.round((w.to - newest) / 1000)}s older than the window's end`;
  return values.map((p) => p.v!);
}

function noData(m: MetricConfig, why: string): MetricVerdict {
  return { name: m.name, unit: m.unit, verdict: "NO DATA", baseline: null, candidate: null, change: null, p: null, why };
}

export function overallOf(metrics: readonly MetricVerdict[]): Verdict {
  if (metrics.length === 0) return "NO DATA";
  if (metrics.some((m) => m.verdict === "WORSE")) return "WORSE";
  if (metrics.some((m) => m.verdict === "NO DATA")) return "NO DATA";
  return metrics.some((m) => m.verdict === "BETTER") ? "BETTER" : "OK";
}

/** After the deploy vs as long before it, for every metric. */
export async function beforeAfter(metrics: readonly MetricConfig[], sources: Sources, before: Window, after: Window, v: VerdictConfig, maxLagSec: number, signal?: AbortSignal): Promise<DeployVerdict> {
  const o = { stepSec: v.stepSec, maxLagSec, signal };
  const results = await Promise.all(
    metrics.map(async (m): Promise<MetricVerdict> => {
      const source = sources[m.source];
      // The baseline window ends at the deploy's start, long past: no lag check there.
      const [b, a] = await Promise.all([sample(source, m.query, before, { ...o, maxLagSec: Infinity }), sample(source, m.query, after, o)]);
      if (typeof b === "string") return noData(m, `before: ${b}`);
      if (typeof a === "string") return noData(m, `after: ${a}`);
      return { name: m.name, unit: m.unit, ...judge(b, a, m, v) };
    }),
  );
  return { overall: overallOf(results), metrics: results, compared: "after vs before" };
}

/** Canary hosts vs hosts not yet deployed, over the same window, for metrics with a per-host query. */
export async function canaryVsRest(metrics: readonly MetricConfig[], sources: Sources, canaries: readonly string[], others: readonly string[], w: Window, v: VerdictConfig, maxLagSec: number, signal?: AbortSignal): Promise<DeployVerdict | null> {
  const perHost = metrics.filter((m) => m.perHostQuery);
  if (perHost.length === 0 || canaries.length === 0) return null;
  const o = { stepSec: v.stepSec, maxLagSec, signal };
  const pooled = async (m: MetricConfig, hosts: readonly string[]): Promise<number[] | string> => {
    const all = await Promise.all(hosts.map((h) => sample(sources[m.source], m.perHostQuery!.replaceAll("{host}", h), w, o)));
    const failed = all.find((x): x is string => typeof x === "string");
    return failed !== undefined ? failed : all.flatMap((x) => x as number[]);
  };
  const results = await Promise.all(
    perHost.map(async (m): Promise<MetricVerdict> => {
      if (others.length === 0) return noData(m, "no host left to compare the canaries with");
      const [c, r] = await Promise.all([pooled(m, canaries), pooled(m, others)]);
      if (typeof c === "string") return noData(m, `canaries: ${c}`);
      if (typeof r === "string") return noData(m, `other hosts: ${r}`);
      return { name: m.name, unit: m.unit, ...judge(r, c, m, v) };
    }),
  );
  return { overall: overallOf(results), metrics: results, compared: "canaries vs other hosts" };
}

/** 3 significant digits, the unit after: "0.0123", "412ms", "1.2k req/s". */
export function formatValue(v: number, unit: string): string {
  const abs = Math.abs(v);
  const text = abs >= 10_000 ? `${(v / 1000).toPrecision(3)}k` : abs === 0 ? "0" : abs >= 100 ? String(Math.round(v)) : v.toPrecision(3).replace(/\.?0+$/, "");
  return unit ? `${text}${/^[%a-zµ]/i.test(unit) && unit.length <= 3 ? "" : " "}${unit}` : text;
}

export function changeText(change: number | null): string {
  if (change === null) return "";
  if (!Number.isFinite(change)) return change > 0 ? "up from 0" : "down from 0";
  return `${change >= 0 ? "+" : ""}${Math.round(change * 100)}%`;
}

/** One line per metric: "error ratio WORSE 0.0101 -> 0.0412 (+308%, p=2e-6)" or "latency NO DATA: why". */
export function metricLine(m: MetricVerdict): string {
  if (m.verdict === "NO DATA" || !m.baseline || !m.candidate) return `${m.name} ${m.verdict}: ${m.why}`;
  const p = m.p === null ? "" : `, p=${m.p < 0.001 ? m.p.toExponential(0) : m.p.toFixed(3)}`;
  const guard = /guardrail/.test(m.why) ? `, ${m.why.split(";")[0]}` : "";
  return `${m.name} ${m.verdict} ${formatValue(m.baseline.mean, m.unit)} -> ${formatValue(m.candidate.mean, m.unit)} (${changeText(m.change)}${p}${guard})`;
}

/** The lines worth saying: changed or missing metrics (OK ones are counted, not listed). */
export function changedLines(v: DeployVerdict): string[] {
  return v.metrics.filter((m) => m.verdict !== "OK").map(metricLine);
}

export function summaryWords(v: DeployVerdict): string {
  const n = v.metrics.length;
  const count = (x: Verdict) => v.metrics.filter((m) => m.verdict === x).length;
  const parts = (["WORSE", "BETTER", "NO DATA", "OK"] as const).filter((x) => count(x)).map((x) => `${count(x)} ${x}`);
  return n === 0 ? "no metrics configured" : `${v.overall} (${v.compared}: ${parts.join(", ")} of ${n})`;
}
