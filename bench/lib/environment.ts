// How busy the machine was around a measurement. These VMs are shared (other people's test suites and
// type-checks run beside the benchmarks), so every results file records, before and after: the load
// average, the machine's CPU busy share over one second, IO pressure, and a probe of fsync latency.

import { closeSync, fsyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { percentile } from "./stats.js";

export interface Environment {
  readonly at: string;
  readonly loadavg1m: number;
  /** Share of all cores busy (any process) over a 1 s sample, in percent. */
  readonly cpuBusyPct: number;
  /** /proc/pressure/io "some avg10": percent of time some task waited on IO. */
  readonly ioPressureSome10: number | null;
  /** 200 fsyncs of a 200-byte append in os.tmpdir(), ms. */
  readonly fsyncP50Ms: number;
  readonly fsyncP99Ms: number;
}

/** /proc/stat: busy and total jiffies (10 ms) of the whole machine; idle and iowait are not busy. */
export function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

function ioPressure(): number | null {
  try {
    const m = /^some avg10=([\d.]+)/m.exec(readFileSync("/proc/pressure/io", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function fsyncProbe(count = 200): { p50: number; p99: number } {
  const dir = mkdtempSync(join(tmpdir(), "tugboat-bench-fsync-"));
  const fd = openSync(join(dir, "probe"), "a");
  const samples: number[] = [];
  const line = `${"x".repeat(199)}\n`;
  try {
    for (let i = 0; i < count; i++) {
      writeSync(fd, line);
      const t0 = performance.now();
      fsyncSync(fd);
      samples.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

export async function probeEnvironment(): Promise<Environment> {
  const busy = await cpuBusyPct();
  const fsync = fsyncProbe();
  return {
    at: new Date().toISOString(),
    loadavg1m: loadavg()[0] ?? 0,
    cpuBusyPct: busy,
    ioPressureSome10: ioPressure(),
    fsyncP50Ms: fsync.p50,
    fsyncP99Ms: fsync.p99,
  };
}

export function describeEnvironment(label: string, e: Environment): string {
  return `${label}: load ${e.loadavg1m.toFixed(2)}, CPU busy ${e.cpuBusyPct}% (all cores), IO pressure ${e.ioPressureSome10 ?? "?"}%, fsync p50 ${e.fsyncP50Ms.toFixed(2)} ms / p99 ${e.fsyncP99Ms.toFixed(2)} ms`;
}

/** Share of all cores busy over one second, in percent. */
export async function cpuBusyPct(windowMs = 1000): Promise<number> {
  const a = machineTicks();
  await sleep(windowMs);
  const b = machineTicks();
  return Math.round(((b.busy - a.busy) / Math.max(1, b.total - a.total)) * 1000) / 10;
}

/**
 * Waits, at most BENCH_QUIET_WAIT_MS (default 30 s), for a second in which the machine is less than
 * `busyBelowPct` busy: neighbours' test runs come and go, and a quiet start costs little.
 */
export async function waitForQuiet(busyBelowPct = 30): Promise<{ waitedMs: number; lastBusyPct: number; quiet: boolean }> {
  const maxWaitMs = Number(process.env.BENCH_QUIET_WAIT_MS ?? 30_000);
  const start = performance.now();
  let busy = await cpuBusyPct();
  while (busy >= busyBelowPct && performance.now() - start < maxWaitMs) busy = await cpuBusyPct();
  const waitedMs = Math.round(performance.now() - start);
  const quiet = busy < busyBelowPct;
  console.log(`waited ${(waitedMs / 1000).toFixed(0)} s for a quiet machine: ${quiet ? "quiet" : "still busy"} (${busy}% busy)`);
  return { waitedMs, lastBusyPct: busy, quiet };
}

/** utime + stime + cutime + cstime (clock ticks) of `root` and every live process under it. */
function treeTicks(root: number): number {
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // The command name may hold spaces and parentheses: the fields start after the last ")".
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(name), Number(f[1]));
      ticks.set(Number(name), Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]));
    } catch {
      // Exited while we looked.
    }
  }
  let sum = 0;
  for (const [pid, t] of ticks) {
    for (let p: number | undefined = pid; p !== undefined && p > 0; p = parent.get(p)) {
      if (p === root) {
        sum += t;
        break;
      }
    }
  }
  return sum;
}

export interface CpuShare {
  /** Percent of all cores used by this benchmark's processes (this one, its children, ngircd). */
  readonly oursPct: number;
  /** Percent of all cores used by everything else on the machine meanwhile. */
  readonly othersPct: number;
  readonly seconds: number;
}

/** Starts measuring who used the CPU; call the returned function at the end of the timed part. */
export function cpuShareMeter(): () => CpuShare {
  const m0 = machineTicks();
  const t0 = treeTicks(process.pid);
  const start = performance.now();
  return () => {
    const m1 = machineTicks();
    const ours = treeTicks(process.pid) - t0;
    const total = Math.max(1, m1.total - m0.total);
    const pct = (v: number) => Math.round((Math.max(0, v) / total) * 1000) / 10;
    return { oursPct: pct(ours), othersPct: pct(m1.busy - m0.busy - ours), seconds: Math.round((performance.now() - start) / 100) / 10 };
  };
}

export function describeCpuShare(s: CpuShare): string {
  return `CPU during the timed part (${s.seconds} s): this benchmark ${s.oursPct}% of all cores, everything else ${s.othersPct}%`;
}
