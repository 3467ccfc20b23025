// The pure half of the Graphite watch rules: the targets a rule asks Graphite for, what each returned
// series says at one evaluation (a breach, within bounds, or no data), and each series' state machine
// (ok -> pending -> firing -> ok; no data -> NO DATA once it lasts `for`). No clock, no Graphite.

import type { WatchRule } from "../config/schema.js";
import type { NamedSeries } from "../metrics/graphite.js";

export type Reading =
  | { readonly kind: "breach"; readonly why: string }
  | { readonly kind: "ok"; readonly why: string }
  | { readonly kind: "nodata"; readonly why: string };

export interface SeriesState {
  /** When the breach was first seen; pending until `for` has passed, then firing. */
  readonly breachSince: number | null;
  readonly firing: boolean;
  /** When the series was first seen without data; NO DATA once `for` has passed. */
  readonly nodataSince: number | null;
  readonly nodata: boolean;
  /** The last reading in words, for the channel line. */
  readonly last: string;
}

export const QUIET: SeriesState = { breachSince: null, firing: false, nodataSince: null, nodata: false, last: "" };

const UPPER = "holtWintersConfidenceUpper(";
const LOWER = "holtWintersConfidenceLower(";

/** The Graphite call: the target, and for a band rule Graphite's own Holt-Winters bands of it. */
export function targetsOf(rule: Pick<WatchRule, "target" | "band">): string[] {
  if (!rule.band) return [rule.target];
  const { delta, bootstrap, seasonality } = rule.band;
  return [rule.target, `holtWintersConfidenceBands(${rule.target},${delta},'${bootstrap / 1000}s','${seasonality / 1000}s')`];
}

/** Four significant digits, no exponent for everyday sizes: 612.3, 0.01234, 1.235e+6. */
export const num = (v: number): string => String(Number(v.toPrecision(4)));

/** What each series says now: its newest point within the lookback against the threshold or band. */
export function readings(rule: Pick<WatchRule, "target" | "threshold" | "band" | "lookback">, series: readonly NamedSeries[], now: number): Map<string, Reading> {
  const out = new Map<string, Reading>();
  const since = now - rule.lookback;
  const lookback = `${rule.lookback / 1000}s`;
  const byName = new Map(series.map((s) => [s.name, s]));
  for (const s of series) {
    if (s.name.startsWith(UPPER) || s.name.startsWith(LOWER)) continue;
    const recent = s.points.filter((p) => p.t >= since && p.t <= now && p.v !== null);
    if (rule.threshold) {
      const p = recent.at(-1);
      if (!p) {
        out.set(s.name, { kind: "nodata", why: `no points in the last ${lookback}` });
        continue;
      }
      const v = p.v!;
      const { above, below } = rule.threshold;
      if (above !== undefined && v > above) out.set(s.name, { kind: "breach", why: `${num(v)} > ${num(above)}` });
      else if (below !== undefined && v < below) out.set(s.name, { kind: "breach", why: `${num(v)} < ${num(below)}` });
      else out.set(s.name, { kind: "ok", why: `${num(v)}` });
      continue;
    }
    // A band rule: the newest point that has a value and both bands.
    const upper = new Map((byName.get(`${UPPER}${s.name})`)?.points ?? []).map((p) => [p.t, p.v]));
    const lower = new Map((byName.get(`${LOWER}${s.name})`)?.points ?? []).map((p) => [p.t, p.v]));
    const p = recent.filter((q) => upper.get(q.t) != null && lower.get(q.t) != null).at(-1);
    if (!p) {
      out.set(s.name, { kind: "nodata", why: recent.length ? `no Holt-Winters band in the last ${lookback} (too little history before it?)` : `no points in the last ${lookback}` });
      continue;
    }
    const v = p.v!;
    const hi = upper.get(p.t)!;
    const lo = lower.get(p.t)!;
    const band = `band ${num(lo)}..${num(hi)}`;
    out.set(s.name, v > hi || v < lo ? { kind: "breach", why: `${num(v)} outside the Holt-Winters ${band}` } : { kind: "ok", why: `${num(v)} within the ${band}` });
  }
  return out;
}

/**
 * One evaluation's step. No data leaves the breach track alone (a firing alert is not resolved by
 * silence) and, under noData: nodata, starts its own NO DATA clock; under noData: firing it is a breach.
 */
export function advance(s: SeriesState, r: Reading, now: number, rule: Pick<WatchRule, "for" | "noData">): SeriesState {
  if (r.kind === "nodata" && rule.noData === "nodata") {
    const since = s.nodataSince ?? now;
    return { ...s, nodataSince: since, nodata: now - since >= rule.for, last: r.why };
  }
  if (r.kind === "ok") return { ...QUIET, last: r.why };
  const since = s.breachSince ?? now;
  return { breachSince: since, firing: s.firing || now - since >= rule.for, nodataSince: null, nodata: false, last: r.kind === "nodata" ? `no data (${r.why})` : r.why };
}
