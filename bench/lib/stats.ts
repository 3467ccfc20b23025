// Latency statistics, bounded timing loops, the printed tables and the results files every benchmark
// shares. Percentiles are nearest-rank over all samples (no interpolation, no outlier trimming).

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";

export const BENCH_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");

export interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1);
  return { n: sorted.length, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN, mean };
}

export interface LoopBounds {
  /** Iterations to run. */
  readonly count: number;
  /** Stop early once this much wall time has passed (the sample count then says so). */
  readonly maxMs: number;
}

export interface LoopResult {
  /** Milliseconds per iteration. */
  readonly samples: number[];
  readonly stoppedBy: "count" | "time";
  readonly wallMs: number;
}

/** Runs `fn` sequentially, timing each call, until `count` calls or `maxMs` of wall time. */
export async function timedLoop(bounds: LoopBounds, fn: (i: number) => Promise<unknown> | unknown): Promise<LoopResult> {
  const samples: number[] = [];
  const start = performance.now();
  const deadline = start + bounds.maxMs;
  for (let i = 0; i < bounds.count; i++) {
    if (performance.now() > deadline) return { samples, stoppedBy: "time", wallMs: performance.now() - start };
    const t0 = performance.now();
    await fn(i);
    samples.push(performance.now() - t0);
  }
  return { samples, stoppedBy: "count", wallMs: performance.now() - start };
}

export function ms(v: number, digits = 2): string {
  return Number.isFinite(v) ? v.toFixed(digits) : "-";
}

/** Prints an aligned text table: first column left-aligned, the others right-aligned. */
export function printTable(title: string, header: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
}

/** Writes bench/results/NAME.json (rounded to microseconds so the file stays readable). */
export function writeResults(name: string, data: unknown): string {
  const file = join(BENCH_DIR, "results", `${name}.json`);
  mkdirSync(dirname(file), { recursive: true });
  const round = (_key: string, v: unknown) => (typeof v === "number" && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v);
  writeFileSync(file, `${JSON.stringify(data, round, 2)}\n`);
  return file;
}

export interface InterleaveBounds {
  readonly blocks: number;
  /** Iterations of each arm per block. */
  readonly perBlock: number;
  /** Deadline for the whole interleaved run; each arm then reports how far it got. */
  readonly maxMs: number;
  /** Time budget of each arm over all blocks (split evenly between blocks), so one slow arm stays bounded. */
  readonly armMaxMs?: number;
}

/**
 * Runs the arms in alternating blocks (A B, then B A, ...) so that drift in a shared machine's load
 * hits every arm alike. `fn(i)` gets the arm's own running index; the samples of all blocks are pooled.
 */
export async function interleave<K extends string>(arms: Record<K, (i: number) => Promise<unknown>>, bounds: InterleaveBounds): Promise<Record<K, LoopResult>> {
  const names = Object.keys(arms) as K[];
  const out = Object.fromEntries(names.map((n) => [n, { samples: [] as number[], stoppedBy: "count" as "count" | "time", wallMs: 0 }])) as Record<K, { samples: number[]; stoppedBy: "count" | "time"; wallMs: number }>;
  const deadline = performance.now() + bounds.maxMs;
  for (let b = 0; b < bounds.blocks; b++) {
    const order = b % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const r = out[name];
      const left = Math.min(deadline - performance.now(), bounds.armMaxMs === undefined ? Number.POSITIVE_INFINITY : bounds.armMaxMs / bounds.blocks);
      if (left <= 0) {
        r.stoppedBy = "time";
        continue;
      }
      const offset = r.samples.length;
      const block = await timedLoop({ count: bounds.perBlock, maxMs: left }, (i) => arms[name](offset + i));
      r.samples.push(...block.samples);
      r.wallMs += block.wallMs;
      if (block.stoppedBy === "time") r.stoppedBy = "time";
    }
  }
  return out;
}
