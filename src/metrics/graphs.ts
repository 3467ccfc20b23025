// !graphs and /graphs/APP: every metric of an app over a window, bucketed for a Unicode sparkline and
// an SVG chart, with the app's deploys and rollbacks (from the journal) as marks. Failures are shown
// per metric, as what they are.

import type { AppConfig } from "../config/schema.js";
import { MetricError, type Point } from "./source.js";
import { changeText, formatValue, type Sources } from "./verdict.js";

export interface DeployMarkPoint {
  readonly id: number;
  readonly kind: string;
  readonly at: number;
  readonly state: string;
}

export interface MetricSeries {
  readonly name: string;
  readonly unit: string;
  readonly points: readonly Point[];
  /** Why there are no points (the source failed), or null. */
  readonly error: string | null;
}

export interface AppGraphs {
  readonly app: string;
  readonly from: number;
  readonly to: number;
  readonly metrics: readonly MetricSeries[];
  readonly deploys: readonly DeployMarkPoint[];
}

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30m", "6h", "2d" -> ms; null when it is not a window (at most 7 days). */
export function parseWindow(text: string): number | null {
  const m = /^(\d{1,3})([mhd])$/.exec(text);
  if (!m) return null;
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  return ms > 0 && ms <= 7 * 86_400_000 ? ms : null;
}

export async function loadGraphs(app: string, cfg: AppConfig, sources: Sources, deploys: readonly DeployMarkPoint[], from: number, to: number, signal?: AbortSignal): Promise<AppGraphs> {
  // About 300 points per chart, never finer than the app's step.
  const stepSec = Math.max(cfg.verdict.stepSec, Math.ceil((to - from) / 1000 / 300));
  const metrics = await Promise.all(
    cfg.metrics.map(async (m): Promise<MetricSeries> => {
      const source = sources[m.source];
      if (!source) return { name: m.name, unit: m.unit, points: [], error: `no ${m.source} configured` };
      try {
        const points = await source.range({ query: m.query, from, to, stepSec, ...(signal ? { signal } : {}) });
        return { name: m.name, unit: m.unit, points, error: points.some((p) => p.v !== null) ? null : `no data from ${source.kind}` };
      } catch (e) {
        if (e instanceof MetricError) return { name: m.name, unit: m.unit, points: [], error: e.message };
        throw e;
      }
    }),
  );
  return { app, from, to, metrics, deploys: deploys.filter((d) => d.at >= from && d.at <= to) };
}

const BARS = "▁▂▃▄▅▆▇█";

/** Averages of the points in `width` equal buckets (null where a bucket has none). */
export function buckets(points: readonly Point[], from: number, to: number, width: number): Array<number | null> {
  const sums = Array<number>(width).fill(0);
  const counts = Array<number>(width).fill(0);
  for (const p of points) {
    if (p.v === null || p.t < from || p.t > to) continue;
    const i = Math.min(width - 1, Math.floor(((p.t - from) / (to - from)) * width));
    sums[i]! += p.v;
    counts[i]!++;
  }
  return sums.map((s, i) => (counts[i] ? s / counts[i]! : null));
}

/** A sparkline of `width` cells; a "|" before the cell where each deploy happened; a space where no data. */
export function sparkline(points: readonly Point[], from: number, to: number, marks: readonly number[], width = 24): string {
  const b = buckets(points, from, to, width);
  const values = b.filter((v): v is number => v !== null);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const cells = b.map((v) => (v === null ? " " : BARS[hi === lo ? 3 : Math.round(((v - lo) / (hi - lo)) * (BARS.length - 1))]!));
  const markAt = new Set(marks.filter((t) => t >= from && t <= to).map((t) => Math.min(width - 1, Math.floor(((t - from) / (to - from)) * width))));
  return cells.map((c, i) => (markAt.has(i) ? `|${c}` : c)).join("");
}

/** "error ratio ▁▁▂|▇█▇ now 0.041 (+308% over 1h)" or "latency: prometheus: connection refused". */
export function graphLine(m: MetricSeries, g: AppGraphs, windowText: string): string {
  if (m.error) return `${m.name}: ${m.error}`;
  const b = buckets(m.points, g.from, g.to, 24).filter((v): v is number => v !== null);
  const last = [...m.points].reverse().find((p) => p.v !== null)!.v!;
  const first = b[0]!;
  const change = first !== 0 ? (b[b.length - 1]! - first) / Math.abs(first) : b[b.length - 1] === 0 ? 0 : Infinity;
  return `${m.name} ${sparkline(m.points, g.from, g.to, g.deploys.map((d) => d.at))} now ${formatValue(last, m.unit)} (${changeText(change)} over ${windowText})`;
}

/** What !graphs and the graph pages need, wired in app.ts. */
export interface GraphsPort {
  /** Throws a UserError for an app that is not configured or has no metrics. */
  load(app: string, windowMs: number, signal?: AbortSignal): Promise<AppGraphs>;
  /** The web graph page of an app. */
  url(app: string, window?: string): string;
  /** Dashboards to link to, when configured. */
  readonly dashboards: ReadonlyArray<{ readonly name: string; readonly url: string }>;
}
