// The judge: did a metric change between two samples? A Mann-Whitney U rank test (tie-corrected,
// normal approximation with continuity correction), an effect-size tolerance on the change of the
// mean, and absolute guardrails. Too few points is NO DATA, never OK. Pure: numbers in, verdict out.

export type Verdict = "OK" | "WORSE" | "BETTER" | "NO DATA";

export interface JudgeOptions {
  /** A relative change of the mean smaller than this is no change (0.25 = 25%). */
  readonly tolerance: number;
  /** Two-sided confidence the rank test needs (0.98: p < 0.02). */
  readonly confidence: number;
  /** Fewer values than this on either side is NO DATA. */
  readonly minPoints: number;
}

export interface MetricRule {
  readonly worse: "up" | "down";
  readonly guardrail?: { readonly max?: number | undefined; readonly min?: number | undefined } | undefined;
}

export interface Summary {
  readonly n: number;
  readonly mean: number;
  readonly median: number;
}

export interface Judgement {
  readonly verdict: Verdict;
  readonly baseline: Summary | null;
  readonly candidate: Summary | null;
  /** (candidate mean - baseline mean) / |baseline mean|; ±Infinity from a zero baseline; null without data. */
  readonly change: number | null;
  /** Two-sided p-value of the rank test; null without data. */
  readonly p: number | null;
  /** Why, in words: "p=0.0004, +62% (tolerance 25%)", "over the guardrail max 0.01", "3 points after (need 10)". */
  readonly why: string;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const mid = Math.floor(n / 2);
  const median = n === 0 ? NaN : n % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { n, mean: n ? values.reduce((s, v) => s + v, 0) / n : NaN, median };
}

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 for erf; absolute error < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/**
 * Mann-Whitney U of a against b. u: U of sample a; z > 0 when a tends to be larger; p two-sided.
 * Ties get average ranks and the variance their correction; all values tied means p = 1.
 */
export function mannWhitney(a: readonly number[], b: readonly number[]): { u: number; z: number; p: number } {
  const n1 = a.length;
  const n2 = b.length;
  const all = [...a.map((v) => ({ v, x: true })), ...b.map((v) => ({ v, x: false }))].sort((p, q) => p.v - q.v);
  const n = all.length;
  let rankSumA = 0;
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && all[j + 1]!.v === all[i]!.v) j++;
    const rank = (i + j + 2) / 2; // ranks i+1..j+1, averaged
    for (let k = i; k <= j; k++) if (all[k]!.x) rankSumA += rank;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    i = j + 1;
  }
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  const mu = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (!(variance > 0)) return { u, z: 0, p: 1 };
  const d = u - mu;
  const z = (d === 0 ? 0 : d > 0 ? d - 0.5 : d + 0.5) / Math.sqrt(variance);
  return { u, z, p: Math.min(1, 2 * (1 - normalCdf(Math.abs(z)))) };
}

const pct = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${Math.round(x * 100)}%` : x > 0 ? "up from 0" : "down from 0");

/** Judges the candidate sample (after the deploy, or the canaries) against the baseline. */
export function judge(baselineValues: readonly number[], candidateValues: readonly number[], rule: MetricRule, o: JudgeOptions): Judgement {
  const baseline = summarize(baselineValues);
  const candidate = summarize(candidateValues);
  if (baseline.n < o.minPoints || candidate.n < o.minPoints) {
    const short = [baseline.n < o.minPoints ? `${baseline.n} point${baseline.n === 1 ? "" : "s"} before` : "", candidate.n < o.minPoints ? `${candidate.n} point${candidate.n === 1 ? "" : "s"} after` : ""].filter(Boolean).join(", ");
    return { verdict: "NO DATA", baseline: baseline.n ? baseline : null, candidate: candidate.n ? candidate : null, change: null, p: null, why: `too few points: ${short} (need ${o.minPoints})` };
  }
  const { z, p } = mannWhitney(candidateValues, baselineValues);
  const diff = candidate.mean - baseline.mean;
  const change = baseline.mean !== 0 ? diff / Math.abs(baseline.mean) : diff === 0 ? 0 : diff > 0 ? Infinity : -Infinity;
  const significant = p < 1 - o.confidence && Math.abs(change) > o.tolerance && Math.sign(z) === Math.sign(diff);
  const worseDirection = (rule.worse === "up" && diff > 0) || (rule.worse === "down" && diff < 0);
  const stats = `p=${p < 0.0001 ? p.toExponential(1) : p.toFixed(4)}, ${pct(change)} (tolerance ${Math.round(o.tolerance * 100)}%)`;
  let verdict: Verdict = significant ? (worseDirection ? "WORSE" : "BETTER") : "OK";
  let why = significant ? stats : `no significant change: ${stats}`;
  const g = rule.guardrail;
  if (g && verdict !== "BETTER") {
    if (g.max !== undefined && candidate.mean > g.max) {
      verdict = "WORSE";
      why = `over the guardrail (max ${g.max})${baseline.mean > g.max ? ", as it was before" : ""}; ${stats}`;
    } else if (g.min !== undefined && candidate.mean < g.min) {
      verdict = "WORSE";
      why = `under the guardrail (min ${g.min})${baseline.mean < g.min ? ", as it was before" : ""}; ${stats}`;
    }
  }
  return { verdict, baseline, candidate, change, p, why };
}
