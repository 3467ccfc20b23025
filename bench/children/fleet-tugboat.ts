// Child process: tugboat's DeployEngine, built as test/support/engine.ts makeEngine builds it (real
// Staging repository and DeployJournal in a temp dir, the production config schema) with Ssh2Shell,
// for the fleet-deploy benchmark. It moves itself into the cpuacct cgroup named in argv so everything it
// and its git subprocesses use is counted. Ops: "deploy" and "rollback", each with its own fresh
// Ssh2Shell (no SSH connection kept from an earlier op, like the other controllers) unless the op asks
// to reuse the connections the previous one kept open (the bot's own path: it keeps them), reporting wall
// time, CPU, peak RSS, bytes, and every host's step times from the journal.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pino } from "pino";
import { parseConfigText } from "../../src/config/load.js";
import type { ConfigInput } from "../../src/config/schema.js";
import { FleetConnections } from "../../src/fleet/connections.js";
import { DeployEngine, type OperationResult } from "../../src/fleet/engine.js";
import type { DeployEvent } from "../../src/fleet/events.js";
import { DeployJournal } from "../../src/fleet/journal.js";
import { KnownHosts } from "../../src/fleet/known-hosts.js";
import { HttpSmokeChecker } from "../../src/fleet/smoke.js";
import { Ssh2Shell } from "../../src/fleet/ssh2-shell.js";
import { Staging } from "../../src/git/staging.js";
import { serveParent } from "../lib/child.js";
import { machineTicks } from "../lib/environment.js";

interface Setup {
  readonly cgroupProcs: string;
  readonly repo: string;
  readonly user: string;
  readonly privateKeyPath: string;
  readonly knownHostsPath: string;
}

export interface TugboatOp {
  readonly app: string;
  readonly deployPath: string;
  readonly hosts: ReadonlyArray<{ name: string; address: string; port: number }>;
  /** deploy: the ref to deploy; rollback: the release to go back to. */
  readonly ref: string;
  readonly concurrency: number;
  readonly maxHandshakes: number;
  readonly handshakeTimeoutMs: number;
  /** Leave this op's SSH connections open for the next op (a running bot keeps them, like ControlPersist). */
  readonly keepOpen?: boolean;
  /** Use the connections the previous op left open (a rollback minutes after a deploy, in the bot). */
  readonly reuse?: boolean;
  /**
   * Deploy as the bot's !deploy does: preview (fetch, stage, census, commit range), then the deploy,
   * which reuses the preview's census; both timed.
   */
  readonly viaPreview?: boolean;
}

export interface TugboatOpResult {
  readonly state: string;
  readonly summary: string;
  readonly to: string;
  readonly ok: number;
  readonly problems: ReadonlyArray<{ host: string; kind: string; step: string; message: string }>;
  readonly wallMs: number;
  /** The engine's own figure (OperationResult.ms). */
  readonly engineMs: number;
  readonly bytesSent: number;
  /** utime+stime of this process and its reaped children (git), from /proc/self/stat, ms. */
  readonly cpuMs: { user: number; sys: number; childUser: number; childSys: number };
  /** VmHWM after resetting it just before the op, and RSS before/after, MiB. */
  readonly peakRssMiB: number;
  readonly rssBeforeMiB: number;
  readonly heapUsedMiB: number;
  /** Per host: the sum of its journaled steps (ms), and the steps by name. */
  readonly hostMs: Record<string, number>;
  readonly stepMs: Record<string, number[]>;
  /** Time spent in DeployJournal.step (a synchronous SQLite commit with fsync, on the event loop). */
  readonly journal: { steps: number; ms: number; maxMs: number };
  /** Event-loop stalls: the longest gap between 10 ms ticks during the op. */
  readonly maxLoopLagMs: number;
  /**
   * Where the wall time went (ms from the start of the op): the first host's first journaled step, the
   * hosts' finishing times (first, median, last), and the machine's idle CPU (both cores, ms) in each
   * quarter of the op: idle cores while the op runs are time no host and no controller could use.
   */
  readonly timeline: { firstStepMs: number | null; hostsDoneMs: { first: number; p50: number; last: number } | null; idleCpuMsByQuarter: number[] };
}

const setup = JSON.parse(process.argv[2] ?? "{}") as Setup;
// Into our cgroup first: the CPU of everything this process does from here on is counted there.
writeFileSync(setup.cgroupProcs, String(process.pid));

const dir = mkdtempSync(join(tmpdir(), "tugboat-bench-engine-"));
const journal = new DeployJournal(join(dir, "deploys.sqlite3"), () => new Date());
const staging = new Staging({ dir: join(dir, "staging", "bench"), source: setup.repo, patchesDir: null, timeoutMs: 120_000, commitUrl: null });
const knownHosts = new KnownHosts(readFileSync(setup.knownHostsPath, "utf8"));
const privateKey = readFileSync(setup.privateKeyPath);

// Count the journal's synchronous commits: each host step is one INSERT with fsync (WAL, FULL).
const journalStats = { steps: 0, ms: 0, maxMs: 0 };
const step = journal.step.bind(journal);
journal.step = (s) => {
  const t0 = performance.now();
  step(s);
  const ms = performance.now() - t0;
  journalStats.steps++;
  journalStats.ms += ms;
  if (ms > journalStats.maxMs) journalStats.maxMs = ms;
};

function procTimes(): { user: number; sys: number; childUser: number; childSys: number } {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  const tick = 10; // USER_HZ = 100
  return { user: f[11]! * tick, sys: f[12]! * tick, childUser: f[13]! * tick, childSys: f[14]! * tick };
}

/** The machine's idle + iowait CPU time so far (ms, all cores). */
function idleCpuMs(): number {
  const t = machineTicks();
  return (t.total - t.busy) * 10;
}

function status(): { hwmKiB: number; rssKiB: number } {
  const s = readFileSync("/proc/self/status", "utf8");
  return { hwmKiB: Number(/^VmHWM:\s+(\d+)/m.exec(s)?.[1] ?? 0), rssKiB: Number(/^VmRSS:\s+(\d+)/m.exec(s)?.[1] ?? 0) };
}

function engineFor(op: TugboatOp, shell: Ssh2Shell): DeployEngine {
  const input: ConfigInput = {
    fleet: { transport: "ssh", ssh: { user: setup.user, handshakeTimeoutMs: op.handshakeTimeoutMs, maxHandshakes: op.maxHandshakes }, hosts: op.hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, groups: ["bench"] })) },
    apps: { [op.app]: { repo: setup.repo, deployPath: op.deployPath, targets: ["bench"], canaries: [], batchSize: 0, concurrency: op.concurrency, restart: "true" } },
  };
  const config = parseConfigText(JSON.stringify(input), "bench.json");
  return new DeployEngine({
    config,
    shell,
    journal,
    staging: () => staging,
    smoke: new HttpSmokeChecker(),
    log: pino({ level: "silent" }),
    now: () => performance.now(),
    basePath: (_host, app) => app.deployPath,
  });
}

let kept: Ssh2Shell | null = null;

function newShell(op: TugboatOp): Ssh2Shell {
  return new Ssh2Shell({ knownHosts, privateKey, agent: null, handshakeTimeoutMs: op.handshakeTimeoutMs, keepaliveIntervalMs: 10_000, keepaliveCountMax: 3, maxHandshakes: op.maxHandshakes });
}

/**
 * What the bot does when it starts (src/fleet/connections.ts): a fresh shell connects every host of
 * the op, and the next op (reuse) deploys over those connections. Untimed, like the script's master
 * connections: the bot connected minutes or days before anyone typed !deploy.
 */
async function connectAsTheBotDoes(op: TugboatOp): Promise<{ connected: number; failed: number }> {
  await kept?.close();
  const shell = newShell(op);
  const engine = engineFor(op, shell);
  const report = await new FleetConnections({ shell, hosts: () => engine.hosts(op.app), log: pino({ level: "silent" }), everyMs: 0 }).start();
  kept = shell;
  return { connected: report.connected, failed: report.failed.length };
}

async function run(kind: "deploy" | "rollback", op: TugboatOp): Promise<TugboatOpResult> {
  if (!op.reuse && kept) {
    await kept.close();
    kept = null;
  }
  const shell = kept ?? newShell(op);
  const engine = engineFor(op, shell);
  // Peak RSS from here: writing 5 to clear_refs resets VmHWM to the current RSS.
  writeFileSync("/proc/self/clear_refs", "5");
  const before = status();
  Object.assign(journalStats, { steps: 0, ms: 0, maxMs: 0 });
  let maxLag = 0;
  let last = performance.now();
  const idle: Array<[number, number]> = [];
  let ticks = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    if (now - last - 10 > maxLag) maxLag = now - last - 10;
    last = now;
    if (++ticks % 5 === 0) idle.push([now, idleCpuMs()]);
  }, 10);
  const cpu0 = procTimes();
  const t0 = performance.now();
  idle.push([t0, idleCpuMs()]);
  let firstStep: number | null = null;
  const done: number[] = [];
  const onEvent = (e: DeployEvent) => {
    if (e.type === "host-step" && firstStep === null) firstStep = performance.now() - t0;
    if (e.type === "host-done") done.push(performance.now() - t0);
  };
  let result: OperationResult;
  try {
    if (kind === "deploy" && op.viaPreview) {
      const preview = await engine.preview(op.app, op.ref);
      result = await engine.deploy({ app: op.app, ref: op.ref, staged: preview.staged, census: preview.census, reason: "fleet-deploy benchmark", nick: "bench", onEvent });
    } else result = kind === "deploy" ? await engine.deploy({ app: op.app, ref: op.ref, reason: "fleet-deploy benchmark", nick: "bench", onEvent }) : await engine.rollback({ app: op.app, to: op.ref, reason: "fleet-deploy benchmark", nick: "bench", onEvent });
  } finally {
    clearInterval(ticker);
  }
  const wallMs = performance.now() - t0;
  idle.push([t0 + wallMs, idleCpuMs()]);
  // idle CPU in each quarter of the op, from the samples (each interval's idle goes to the quarter it ends in)
  const idleByQuarter = [0, 0, 0, 0];
  for (let i = 1; i < idle.length; i++) idleByQuarter[Math.min(3, Math.floor(((idle[i]![0] - t0) / wallMs) * 4))]! += idle[i]![1] - idle[i - 1]![1];
  done.sort((a, b) => a - b);
  const cpu1 = procTimes();
  const after = status();
  if (op.keepOpen) kept = shell;
  else {
    await shell.close();
    kept = null;
  }
  const hostMs: Record<string, number> = {};
  const stepMs: Record<string, number[]> = {};
  for (const s of journal.steps(result.deploy.id)) {
    hostMs[s.host] = (hostMs[s.host] ?? 0) + s.ms;
    (stepMs[s.step] ??= []).push(s.ms);
  }
  const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
  return {
    state: result.state,
    summary: result.summary,
    to: result.to,
    ok: result.ok.length,
    problems: result.problems.map((p) => ({ host: p.host, kind: p.kind, step: p.step, message: p.message })),
    wallMs,
    engineMs: result.ms,
    bytesSent: result.bytesSent,
    cpuMs: { user: cpu1.user - cpu0.user, sys: cpu1.sys - cpu0.sys, childUser: cpu1.childUser - cpu0.childUser, childSys: cpu1.childSys - cpu0.childSys },
    peakRssMiB: mib(after.hwmKiB),
    rssBeforeMiB: mib(before.rssKiB),
    heapUsedMiB: Math.round((process.memoryUsage().heapUsed / 2 ** 20) * 10) / 10,
    hostMs,
    stepMs,
    journal: { ...journalStats },
    maxLoopLagMs: maxLag,
    timeline: { firstStepMs: firstStep, hostsDoneMs: done.length ? { first: done[0]!, p50: done[Math.floor(done.length / 2)]!, last: done.at(-1)! } : null, idleCpuMsByQuarter: idleByQuarter },
  };
}

serveParent(
  { pid: process.pid },
  {
    // The deploy host's clone exists before a deploy in production: fetch it once, untimed.
    prepare: async () => {
      await staging.update();
      return { ok: true };
    },
    connect: (arg) => connectAsTheBotDoes(arg as TugboatOp),
    deploy: (arg) => run("deploy", arg as TugboatOp),
    rollback: (arg) => run("rollback", arg as TugboatOp),
  },
  async () => {
    await kept?.close();
    journal.close();
    rmSync(dir, { recursive: true, force: true });
  },
);
