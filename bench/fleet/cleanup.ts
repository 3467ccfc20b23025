// The fleet-deploy benchmark leaves millions of files on the hosts' /srv (every release of every tool).
// On this machine's ext4 without a journal, a mass delete makes file creation slow for minutes after
// (freed inodes are skipped for 60-360 s: FIELD-NOTES "Benchmarking on these machines"). So:
// - within a run nothing is deleted: every tool and size deploys into fresh paths;
// - before the fleet stops (which removes its temp dir), each host's /srv/deployment is renamed out of
//   it into a graveyard dir on the same filesystem (one rename per host);
// - after the figures are written, a detached `rm -rf` (lowest best-effort IO priority) removes the
//   graveyard, and a marker file in bench/.cache/ records when it started and ended. Deleting is CPU
//   work here (~8,000 files/s): under `nice 19` or the idle IO class it crawled at ~1,400 files/s
//   while neighbours' test suites ran, so it is not niced;
// - the next run first waits until that delete has finished and 6 minutes have passed since.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { BENCH_DIR } from "../lib/stats.js";

const MARKER = join(BENCH_DIR, ".cache", "fleet-deploy-cleanup.json");
/** The longest the field notes saw file creation stay slow after a mass delete. */
const SETTLE_MS = 360_000;

interface Marker {
  readonly pid: number;
  readonly dir: string;
  readonly startedAt: number;
  readonly files: number;
}

function alive(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir);
  } catch {
    return false;
  }
}

export interface Cooldown {
  readonly previousDelete: (Marker & { endedAt: number | null }) | null;
  readonly waitedMs: number;
  readonly settled: boolean;
}

/**
 * Waits (at most BENCH_FLEET_COOLDOWN_MS, default 10 min; 0 to skip) for the previous run's delete to
 * finish and settle for 6 minutes.
 */
export async function waitForPreviousCleanup(): Promise<Cooldown> {
  if (!existsSync(MARKER)) return { previousDelete: null, waitedMs: 0, settled: true };
  const marker = JSON.parse(readFileSync(MARKER, "utf8")) as Marker;
  // A run that stopped before deploying anything freed no inodes: nothing to wait for.
  if (marker.files === 0) return { previousDelete: { ...marker, endedAt: null }, waitedMs: 0, settled: true };
  const doneFile = `${MARKER}.done`;
  const maxWait = Number(process.env.BENCH_FLEET_COOLDOWN_MS ?? 600_000);
  const t0 = performance.now();
  const endedAt = () => {
    const text = existsSync(doneFile) ? readFileSync(doneFile, "utf8").trim() : "";
    return text ? Number(text) * 1000 : null;
  };
  for (;;) {
    const running = alive(marker.pid, marker.dir);
    const ended = endedAt() ?? (running ? null : marker.startedAt);
    const settled = !running && ended !== null && Date.now() - ended >= SETTLE_MS;
    const waited = performance.now() - t0;
    if (settled || waited >= maxWait) {
      if (!settled) console.log(`the previous run's delete of ${marker.files.toLocaleString("en")} files ${running ? "is still running" : "ended less than 6 min ago"}: going on anyway after ${(waited / 1000).toFixed(0)} s (BENCH_FLEET_COOLDOWN_MS)`);
      return { previousDelete: { ...marker, endedAt: endedAt() }, waitedMs: Math.round(waited), settled };
    }
    if (waited === 0 || Math.round(waited / 1000) % 30 === 0) console.log(`waiting for the previous run's delete of ${marker.files.toLocaleString("en")} files to ${running ? "finish" : "settle (6 min)"}...`);
    await sleep(1000);
  }
}

/** Renames each host's deployment dir into `grave` (same filesystem): cheap, no inode freed. */
export function buryDeployments(srvDirs: ReadonlyArray<{ name: string; srv: string }>, grave: string): number {
  mkdirSync(grave, { recursive: true });
  let moved = 0;
  for (const h of srvDirs) {
    const from = join(h.srv, "deployment");
    if (!existsSync(from)) continue;
    renameSync(from, join(grave, h.name));
    moved++;
  }
  return moved;
}

/** Starts the detached, niced delete of the graveyard and writes the marker. */
export function deleteInBackground(grave: string, files: number): Marker {
  const doneFile = `${MARKER}.done`;
  rmSync(doneFile, { force: true });
  const child = spawn("ionice", ["-c", "2", "-n", "7", "sh", "-c", 'rm -rf "$0"; date +%s > "$1"', grave, doneFile], { detached: true, stdio: "ignore" });
  child.unref();
  const marker: Marker = { pid: child.pid ?? 0, dir: grave, startedAt: Date.now(), files };
  mkdirSync(join(BENCH_DIR, ".cache"), { recursive: true });
  writeFileSync(MARKER, `${JSON.stringify(marker)}\n`);
  return marker;
}
