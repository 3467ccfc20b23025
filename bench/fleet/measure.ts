// What the fleet-deploy benchmark measures around each controller, and how:
// - CPU: each controller (and the fleet's sshds with everything they start) runs in its own cpuacct
//   cgroup (cgroup v1, /sys/fs/cgroup/cpuacct/tugboat-bench-PID/NAME). The cgroup counts the CPU of
//   every process that was ever in it, including ones that exited, daemonized (OpenSSH ControlPersist
//   masters) or were never waited for. Nothing else of the machine's cgroups is touched.
// - Memory: every 200 ms the processes in the controller's cgroup are read from /proc: the sum of
//   their PSS (proportional set size: shared pages split between the processes sharing them, so 32
//   forks of one Python are not counted 32 times), the sum of their RSS, and the largest single RSS.
// - Bytes: iptables counters on the loopback interface (a chain of our own jumped to from OUTPUT):
//   IP bytes (headers included) of TCP packets to the fleet's SSH port on 127.0.1.0/24, and back.
// - Wall time: from the spawn of the controller to its exit (or around the engine call, for tugboat).

import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";

const CPUACCT = "/sys/fs/cgroup/cpuacct";

export interface CpuNs {
  readonly userNs: number;
  readonly sysNs: number;
  readonly totalNs: number;
}

export class CpuGroup {
  constructor(
    readonly name: string,
    readonly path: string,
  ) {}

  get procsFile(): string {
    return join(this.path, "cgroup.procs");
  }

  usage(): CpuNs {
    const total = Number(readFileSync(join(this.path, "cpuacct.usage"), "utf8"));
    const user = Number(readFileSync(join(this.path, "cpuacct.usage_user"), "utf8"));
    const sys = Number(readFileSync(join(this.path, "cpuacct.usage_sys"), "utf8"));
    return { userNs: user, sysNs: sys, totalNs: total };
  }

  pids(): number[] {
    return readFileSync(this.procsFile, "utf8")
      .split("\n")
      .filter((l) => l.length > 0)
      .map(Number);
  }

  add(pid: number): void {
    try {
      writeFileSync(this.procsFile, String(pid));
    } catch (e) {
      // Exited meanwhile.
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
    }
  }

  /** SIGTERMs what is left in the group (e.g. ControlPersist masters), then SIGKILL, bounded. */
  async killAll(graceMs = 3000): Promise<number> {
    let killed = 0;
    const deadline = performance.now() + graceMs;
    for (let sig: NodeJS.Signals = "SIGTERM"; ; ) {
      const pids = this.pids();
      if (pids.length === 0) return killed;
      for (const p of pids) {
        try {
          process.kill(p, sig);
          killed++;
        } catch {
          // Gone.
        }
      }
      await sleep(50);
      if (performance.now() > deadline) {
        if (sig === "SIGKILL") return killed;
        sig = "SIGKILL";
      }
    }
  }
}

export function cpuDelta(a: CpuNs, b: CpuNs): CpuNs {
  return { userNs: b.userNs - a.userNs, sysNs: b.sysNs - a.sysNs, totalNs: b.totalNs - a.totalNs };
}

export class CpuGroups {
  readonly root: string;
  private readonly groups = new Map<string, CpuGroup>();

  constructor() {
    if (!existsSync(join(CPUACCT, "cpuacct.usage"))) throw new Error(`${CPUACCT} (cgroup v1 cpuacct) is not mounted: the benchmark counts each controller's CPU there`);
    this.root = join(CPUACCT, `tugboat-bench-${process.pid}`);
    mkdirSync(this.root, { recursive: true });
    process.once("exit", () => this.removeSync());
  }

  group(name: string): CpuGroup {
    let g = this.groups.get(name);
    if (!g) {
      const path = join(this.root, name);
      mkdirSync(path, { recursive: true });
      g = new CpuGroup(name, path);
      this.groups.set(name, g);
    }
    return g;
  }

  /** Moves any process still in our groups back to the root group, and removes the groups. */
  removeSync(): void {
    for (const g of this.groups.values()) {
      try {
        for (const pid of g.pids()) {
          try {
            writeFileSync(join(CPUACCT, "cgroup.procs"), String(pid));
          } catch {
            // Gone.
          }
        }
        rmdirSync(g.path);
      } catch {
        // Already removed.
      }
    }
    this.groups.clear();
    try {
      rmdirSync(this.root);
    } catch {
      // Already removed, or still busy.
    }
  }
}

/** `root` and all its descendants, from /proc/PID/task/TID/children (cheap: no scan of /proc). */
export function descendants(root: number): number[] {
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        const kids = readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim();
        if (kids) stack.push(...kids.split(" ").map(Number));
      } catch {
        // Gone.
      }
    }
  }
  return out;
}

export interface MemoryPeak {
  /** Peak of the sum of PSS over the group's processes, MiB. */
  readonly pssMiB: number;
  /** Peak of the sum of RSS, MiB (counts shared pages once per process). */
  readonly rssSumMiB: number;
  /** Largest RSS of a single process, MiB. */
  readonly rssMaxMiB: number;
  /** Most processes seen at once. */
  readonly processes: number;
  readonly samples: number;
}

function rollup(pid: number): { rss: number; pss: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const rss = Number(/^Rss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    const pss = Number(/^Pss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    return { rss, pss };
  } catch {
    return null;
  }
}

/** Samples the memory of a cgroup's processes every `everyMs` until stopped. */
export function memorySampler(group: CpuGroup, everyMs = 200): { stop(): MemoryPeak } {
  let pss = 0;
  let rssSum = 0;
  let rssMax = 0;
  let procs = 0;
  let samples = 0;
  const sample = () => {
    let p = 0;
    let r = 0;
    let n = 0;
    for (const pid of group.pids()) {
      const m = rollup(pid);
      if (!m) continue;
      n++;
      p += m.pss;
      r += m.rss;
      if (m.rss > rssMax) rssMax = m.rss;
    }
    samples++;
    if (p > pss) pss = p;
    if (r > rssSum) rssSum = r;
    if (n > procs) procs = n;
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;
      return { pssMiB: mib(pss), rssSumMiB: mib(rssSum), rssMaxMiB: mib(rssMax), processes: procs, samples };
    },
  };
}

export interface ByteCounts {
  /** IP bytes to the fleet's SSH port (controller -> hosts). */
  readonly toHosts: number;
  /** IP bytes from the fleet's SSH port (hosts -> controller). */
  readonly fromHosts: number;
  readonly packetsToHosts: number;
}

/** iptables byte counters for TCP to and from `port` on 127.0.1.0/24 over lo. Removed on exit. */
export class ByteCounter {
  private readonly chain = `TBBENCH${process.pid}`;
  private installed = false;

  constructor(private readonly port: number) {}

  private ipt(args: string[]): string {
    return execFileSync("iptables", ["-w", "5", ...args], { encoding: "utf8" });
  }

  install(): void {
    this.ipt(["-N", this.chain]);
    this.installed = true;
    process.once("exit", () => this.remove());
    this.ipt(["-A", this.chain, "-p", "tcp", "-d", "127.0.1.0/24", "--dport", String(this.port)]);
    this.ipt(["-A", this.chain, "-p", "tcp", "-s", "127.0.1.0/24", "--sport", String(this.port)]);
    this.ipt(["-I", "OUTPUT", "-o", "lo", "-j", this.chain]);
  }

  read(): ByteCounts {
    const rows = this.ipt(["-n", "-v", "-x", "-L", this.chain])
      .split("\n")
      .slice(2)
      .filter((l) => l.trim().length > 0)
      .map((l) => l.trim().split(/\s+/));
    const [to, from] = rows;
    return { toHosts: Number(to?.[1] ?? 0), fromHosts: Number(from?.[1] ?? 0), packetsToHosts: Number(to?.[0] ?? 0) };
  }

  remove(): void {
    if (!this.installed) return;
    this.installed = false;
    try {
      this.ipt(["-D", "OUTPUT", "-o", "lo", "-j", this.chain]);
      this.ipt(["-F", this.chain]);
      this.ipt(["-X", this.chain]);
    } catch {
      // Best effort on exit.
    }
  }
}

export function bytesDelta(a: ByteCounts, b: ByteCounts): ByteCounts {
  return { toHosts: b.toHosts - a.toHosts, fromHosts: b.fromHosts - a.fromHosts, packetsToHosts: b.packetsToHosts - a.packetsToHosts };
}

export interface CommandResult {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly wallMs: number;
  readonly timedOut: boolean;
}

/**
 * Runs argv inside `group` (the shell that starts it moves itself there first, then execs), with a
 * deadline; resolves when it exits. Leftovers in the group (daemonized helpers) are the caller's.
 */
export function runInGroup(group: CpuGroup, argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number }): Promise<CommandResult> {
  const script = 'echo $$ > "$0" && exec "$@"';
  const t0 = performance.now();
  const child = spawn("/bin/sh", ["-c", script, group.procsFile, ...argv], { stdio: ["ignore", "pipe", "pipe"], env: opts.env ?? process.env, cwd: opts.cwd });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, opts.timeoutMs);
  return new Promise((resolve, reject) => {
    let exited: { code: number | null; signal: string | null; wallMs: number } | null = null;
    const done = () => {
      clearTimeout(timer);
      const e = exited!;
      resolve({ code: e.code, signal: e.signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8"), wallMs: e.wallMs, timedOut });
    };
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    // Wall time ends at the exit; the output is complete at "close", which a daemonized helper that
    // kept our pipes open could delay: wait for it at most 5 s more.
    child.once("exit", (code, signal) => {
      exited = { code, signal, wallMs: performance.now() - t0 };
      const late = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        done();
      }, 5000);
      child.once("close", () => {
        clearTimeout(late);
        done();
      });
    });
  });
}
