// host-profile: where a host's CPU goes during one tugboat deploy, by program. A fleet of N sshd hosts
// (test/servers/fleet.ts, default 16), the DeployEngine in this process (test/support/engine.ts's
// makeEngine) with Ssh2Shell and the fleet-deploy benchmark's repository (4,106 files); `perf record
// -a` samples the whole machine (every
// core, cpu-clock at ~2 kHz) while one deploy runs, and the samples are summed by program (comm),
// split by what the program was doing (exec, fork, page faults, file system calls, its own code, ...).
// Two deploys are profiled: the steady state (every host keeps its 5 releases: v7 made from the
// release the host would prune) and a warm copy (v2 beside a live v1: a hard-linked copy). Both over
// new connections, as fleet-deploy's "warm" and "warm-steady". Also counted: processes started per
// host (/proc/stat). Figures are per host: the deploy's samples / N. The controller (this process,
// "node") is included; other programs on the machine appear under their own names.
// Needs root and perf (Debian's linux-perf, installed like the test setup's packages).
// Env: BENCH_PROFILE_HOSTS (default 16).

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { KnownHosts } from "../src/fleet/known-hosts.js";
import { Ssh2Shell } from "../src/fleet/ssh2-shell.js";
import { ensureDebianPackage } from "../test/servers/ensure-package.js";
import { startFleet, type FleetHost } from "../test/servers/fleet.js";
import { makeEngine } from "../test/support/engine.js";
import { ensureRepo } from "./fleet/repo.js";
import { machineTicks } from "./lib/environment.js";
import { describeMachine } from "./lib/machine.js";
import { printTable, writeResults } from "./lib/stats.js";

const HOSTS = Number(process.env.BENCH_PROFILE_HOSTS ?? 16);
const FREQ = 1999;

/** What a sample's kernel call chain says the program was doing; the first match wins. */
const KERNEL_WORK: ReadonlyArray<readonly [string, readonly string[]]> = [
  ["exec", ["load_elf_binary", "bprm_execve", "do_execveat_common", "begin_new_exec"]],
  ["exit", ["do_exit", "exit_mmap", "do_group_exit"]],
  ["fork", ["copy_process", "kernel_clone", "dup_mm"]],
  ["page faults", ["asm_exc_page_fault", "exc_page_fault", "handle_mm_fault"]],
  ["mmap", ["do_mmap", "vm_mmap_pgoff", "__x64_sys_mprotect", "__x64_sys_munmap"]],
  ["link, rename, mkdir, unlink", ["do_renameat2", "do_linkat", "do_unlinkat", "do_mkdirat", "do_symlinkat", "do_rmdir"]],
  ["stat, open", ["do_sys_openat2", "vfs_fstatat", "__x64_sys_newfstatat", "__x64_sys_statx", "__x64_sys_access", "__x64_sys_faccessat", "__x64_sys_readlink"]],
  ["readdir", ["iterate_dir", "__x64_sys_getdents64"]],
  ["read, write", ["ksys_read", "ksys_write", "vfs_read", "vfs_write", "__x64_sys_pread64", "__x64_sys_pwrite64"]],
  ["network, poll", ["do_sys_poll", "do_select", "sock_sendmsg", "sock_recvmsg", "do_epoll_wait", "tcp_sendmsg", "tcp_recvmsg"]],
];

interface ProgramCost {
  readonly program: string;
  readonly msPerHost: number;
  readonly processesPerHost: number;
  readonly work: Record<string, number>;
}

interface Profile {
  readonly op: string;
  readonly wallMs: number;
  /** Busy CPU of the whole machine during the deploy (/proc/stat), ms per host. */
  readonly machineBusyMsPerHost: number;
  readonly sampledMsPerHost: number;
  readonly processesPerHost: number;
  readonly programs: ProgramCost[];
}

/** Sums `perf script` output (comm, pid, then the call chain, one frame a line) by program. */
function summarizeSamples(script: string, hosts: number): { sampledMsPerHost: number; programs: ProgramCost[] } {
  const perSample = 1000 / FREQ / hosts;
  const total = new Map<string, number>();
  const work = new Map<string, Map<string, number>>();
  const pids = new Map<string, Set<string>>();
  for (const block of script.split("\n\n")) {
    const lines = block.split("\n").filter((l) => l.length > 0);
    if (lines.length === 0) continue;
    const head = lines[0]!.trim().split(/\s+/);
    const pid = head.pop()!;
    const program = head.join(" ");
    if (program === "swapper") continue; // idle
    const frames = lines.slice(1).map((l) => {
      const m = /^\s*[0-9a-f]+ (.+?) \((.*)\)$/.exec(l);
      return { sym: (m?.[1] ?? "").replace(/\+0x[0-9a-f]+$/, ""), dso: m?.[2] ?? "" };
    });
    const kernel = frames.filter((f) => f.dso.includes("kernel.kallsyms")).map((f) => f.sym);
    let what: string;
    if (kernel.length > 0) what = KERNEL_WORK.find(([, syms]) => kernel.some((s) => syms.includes(s)))?.[0] ?? "kernel, other";
    else {
      const dso = frames[0]?.dso ?? "";
      what = dso.includes("ld-linux") ? "dynamic linking" : dso.includes("libc.so") ? "libc" : "own code and libraries";
    }
    total.set(program, (total.get(program) ?? 0) + 1);
    const w = work.get(program) ?? new Map<string, number>();
    w.set(what, (w.get(what) ?? 0) + 1);
    work.set(program, w);
    const p = pids.get(program) ?? new Set<string>();
    p.add(pid);
    pids.set(program, p);
  }
  const programs = [...total]
    .sort((a, b) => b[1] - a[1])
    .map(([program, n]) => ({
      program,
      msPerHost: n * perSample,
      processesPerHost: pids.get(program)!.size / hosts,
      work: Object.fromEntries([...work.get(program)!].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v * perSample])),
    }));
  return { sampledMsPerHost: [...total.values()].reduce((a, b) => a + b, 0) * perSample, programs };
}

function processesStarted(): number {
  return Number(/^processes (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1] ?? 0);
}

export async function run(): Promise<void> {
  const machine = describeMachine();
  const perf = await ensureDebianPackage("perf", "linux-perf");
  const repo = ensureRepo();
  const fleet = await startFleet({ hosts: HOSTS });
  const dir = mkdtempSync(join(tmpdir(), "tugboat-bench-profile-"));
  const profiles: Profile[] = [];
  const bases: string[] = [];
  try {
    const knownHosts = new KnownHosts(readFileSync(fleet.knownHostsPath, "utf8"));
    const privateKey = readFileSync(fleet.privateKeyPath);
    const hosts: readonly FleetHost[] = fleet.hosts.slice(0, HOSTS);
    const runId = `${process.pid}`;

    const deploy = async (app: string, tag: string, profile: string | null): Promise<void> => {
      const base = `/srv/deployment/profile-${runId}-${app}`;
      if (!bases.includes(base)) bases.push(base);
      const shell = new Ssh2Shell({ knownHosts, privateKey, agent: null, handshakeTimeoutMs: 10_000, keepaliveIntervalMs: 10_000, keepaliveCountMax: 3, maxHandshakes: 24 });
      // the journal and staging repository live in dir: each deploy's engine finds what the last one left
      const { engine, journal } = makeEngine({
        dir,
        shell,
        config: {
          fleet: { transport: "ssh", ssh: { user: fleet.user, handshakeTimeoutMs: 10_000, maxHandshakes: 24 }, hosts: hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, groups: ["profile"] })) },
          apps: { [app]: { repo: repo.dir, deployPath: base, targets: ["profile"], canaries: [], batchSize: 0, concurrency: 32, restart: "true" } },
        },
      });
      let recorder: ChildProcess | null = null;
      const data = join(dir, `perf-${app}-${tag}.data`);
      if (profile) {
        recorder = spawn(perf, ["record", "-a", "-g", "-e", "cpu-clock", "-F", String(FREQ), "-o", data], { stdio: "ignore" });
        await new Promise((r) => setTimeout(r, 1500)); // perf's own start-up, before the deploy
      }
      const ticks0 = machineTicks();
      const procs0 = processesStarted();
      const t0 = performance.now();
      const result = await engine.deploy({ app, ref: tag, reason: "host-profile benchmark", nick: "bench" });
      const wallMs = performance.now() - t0;
      const procs1 = processesStarted();
      const ticks1 = machineTicks();
      if (recorder) {
        const exited = new Promise((r) => recorder!.once("exit", r));
        recorder.kill("SIGINT");
        await exited;
      }
      await shell.close();
      journal.close();
      if (result.state !== "succeeded") throw new Error(`${app} ${tag}: ${result.summary}`);
      if (!profile) return;
      const script = execFileSync(perf, ["script", "-i", data, "-F", "comm,pid,ip,sym,dso"], { encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "ignore"] });
      const summary = summarizeSamples(script, HOSTS);
      profiles.push({ op: profile, wallMs, machineBusyMsPerHost: ((ticks1.busy - ticks0.busy) * 10) / HOSTS, processesPerHost: (procs1 - procs0) / HOSTS, ...summary });
    };

    for (let v = 1; v <= 6; v++) await deploy("steady", `v${v}`, null);
    await deploy("steady", "v7", "steady state (v7 recycled from the release it would prune)");
    await deploy("warm", "v1", null);
    await deploy("warm", "v2", "warm copy (v2 from a hard-linked copy of v1)");
  } finally {
    for (const h of fleet.hosts) for (const b of bases) rmSync(join(h.srv, b.replace(/^\/srv\//, "")), { recursive: true, force: true });
    await fleet.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  for (const p of profiles) {
    const rows = p.programs
      .filter((c) => c.msPerHost >= 1)
      .map((c) => [c.program, c.msPerHost.toFixed(1), c.processesPerHost.toFixed(1), Object.entries(c.work).filter(([, v]) => v >= 1).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")]);
    printTable(`${HOSTS} hosts, ${p.op}: ${(p.wallMs / 1000).toFixed(2)} s; per host: ${p.sampledMsPerHost.toFixed(0)} ms sampled (machine busy ${p.machineBusyMsPerHost.toFixed(0)} ms), ${p.processesPerHost.toFixed(1)} processes and threads started`, ["program", "ms/host", "procs/host", "doing (ms/host)"], rows);
  }
  const file = writeResults("host-profile", { machine, settings: { hosts: HOSTS, perfFrequencyHz: FREQ, repository: `${repo.files} files` }, profiles });
  console.log(`figures written to ${file}`);
}
