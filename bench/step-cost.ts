// step-cost: what one step costs a host, over a kept SSH connection (the bot's warm path). A rollback
// of 50 hosts is 50 of these at once on this 2-core machine, so a host's CPU per exec is what bounds it.
// One real sshd host (the test fleet's), one ssh2 connection kept open; each arm runs its command
// N times in alternating blocks, and the host's CPU is read from a cpuacct cgroup holding its sshd and
// everything it starts. Arms:
// - ssh true: the floor, one channel and the login shell running `true`;
// - script switch: the shell-script baseline's rollback command (bench/fleet/shell-deploy.sh: set -e,
//   ln -sfn + mv -T, cd current, restart `true`);
// - tugboat activate (rollback): the activate step switching between two releases, restart `true`,
//   nothing to prune: the command a rollback sends each host;
// - tugboat census: the census step (builtins only);
// - new connection + ssh true: handshake, login, `true`, close (the connection closed before and after).
// Env: BENCH_STEP_N (execs per arm, default 200), BENCH_STEP_BLOCKS (default 10).

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { KnownHosts } from "../src/fleet/known-hosts.js";
import { shellCommand } from "../src/fleet/quote.js";
import type { Host } from "../src/fleet/remote-shell.js";
import { Ssh2Shell } from "../src/fleet/ssh2-shell.js";
import { stepCommand } from "../src/fleet/steps.js";
import { startFleet } from "../test/servers/fleet.js";
import { CpuGroups, descendants } from "./fleet/measure.js";
import { cpuShareMeter, describeCpuShare } from "./lib/environment.js";
import { describeMachine } from "./lib/machine.js";
import { ms, printTable, summarize, writeResults } from "./lib/stats.js";

const N = Number(process.env.BENCH_STEP_N ?? 200);
const BLOCKS = Number(process.env.BENCH_STEP_BLOCKS ?? 10);
const BASE = "/srv/deployment/stepcost";
const NEW_CONNECTION = "\0new connection";

export async function run(): Promise<void> {
  const fleet = await startFleet({ hosts: 1 });
  const groups = new CpuGroups();
  const shell = new Ssh2Shell({
    knownHosts: new KnownHosts(readFileSync(fleet.knownHostsPath, "utf8")),
    privateKey: readFileSync(fleet.privateKeyPath),
    agent: null,
    handshakeTimeoutMs: 10_000,
    keepaliveIntervalMs: 10_000,
    keepaliveCountMax: 3,
    maxHandshakes: 1,
  });
  try {
    const hostGroup = groups.group("host");
    for (const f of readdirSync(join(fleet.dir, "run"))) for (const p of descendants(Number(readFileSync(join(fleet.dir, "run", f), "utf8")))) hostGroup.add(p);
    const h = fleet.hosts[0]!;
    const host: Host = { name: h.name, address: h.address, port: h.port, user: fleet.user, groups: [] };
    const setup = await fleet.exec(h, ["sh", "-c", `mkdir -p ${BASE}/releases/a ${BASE}/releases/b && touch ${BASE}/releases/a/.tugboat-complete ${BASE}/releases/b/.tugboat-complete && ln -sfn releases/a ${BASE}/current`]);
    if (setup.code !== 0) throw new Error(`setup failed: ${setup.stderr}`);
    const release = (i: number) => (i % 2 === 0 ? "b" : "a");
    const step = { umask: "022", timeoutSec: 20, nonce: "bench" };
    const arms: Record<string, (i: number) => string> = {
      "ssh true": () => "true",
      "script switch": (i) => `set -e; cd ${BASE}; test -d releases/${release(i)}; ln -sfn releases/${release(i)} .current.tmp; mv -T .current.tmp current; cd current; true`,
      "tugboat activate (rollback)": (i) => stepCommand("activate", [BASE, release(i), "true", "0"], step),
      "tugboat census": () => stepCommand("census", [BASE], step),
      // a new connection each time (handshake, login, one channel, close): what a deploy over new
      // connections pays a host once, before its first step
      "new connection + ssh true": () => NEW_CONNECTION,
    };
    const names = Object.keys(arms);
    const per = Math.max(1, Math.floor(N / BLOCKS));
    const acc = Object.fromEntries(names.map((n) => [n, { wall: [] as number[], cpuNs: 0, userNs: 0, sysNs: 0, runs: 0, i: 0 }]));
    const exec = async (command: string) => {
      const fresh = command === NEW_CONNECTION;
      if (fresh) await shell.close(host);
      const r = await shell.exec(host, { command: fresh ? "true" : command, timeoutMs: 20_000 });
      if (fresh) await shell.close(host);
      if (r.code !== 0) throw new Error(`${command.slice(0, 60)}... exited ${r.code}: ${r.stderr}`);
    };
    await exec("true"); // the connection is open before the first block
    await exec(shellCommand(["true"]));
    const share = cpuShareMeter();
    for (let b = 0; b < BLOCKS; b++) {
      for (const name of b % 2 === 0 ? names : [...names].reverse()) {
        const a = acc[name]!;
        const before = hostGroup.usage();
        for (let k = 0; k < per; k++) {
          const t = performance.now();
          await exec(arms[name]!(a.i++));
          a.wall.push(performance.now() - t);
        }
        const after = hostGroup.usage();
        a.cpuNs += after.totalNs - before.totalNs;
        a.userNs += after.userNs - before.userNs;
        a.sysNs += after.sysNs - before.sysNs;
        a.runs += per;
      }
    }
    const cpu = share();
    const rows = names.map((n) => {
      const a = acc[n]!;
      const s = summarize(a.wall);
      return [n, String(a.runs), ms(a.cpuNs / a.runs / 1e6, 1), ms(a.userNs / a.runs / 1e6, 1), ms(a.sysNs / a.runs / 1e6, 1), ms(s.p50, 1), ms(s.p90, 1)];
    });
    printTable(`one exec over a kept connection, host CPU from its cgroup (${describeCpuShare(cpu)})`, ["command", "n", "host CPU ms", "user", "sys", "wall p50", "p90"], rows);
    const file = writeResults("step-cost", {
      machine: describeMachine(),
      cpu,
      settings: { n: N, blocks: BLOCKS },
      arms: Object.fromEntries(names.map((n) => {
        const a = acc[n]!;
        return [n, { runs: a.runs, hostCpuMs: a.cpuNs / a.runs / 1e6, userMs: a.userNs / a.runs / 1e6, sysMs: a.sysNs / a.runs / 1e6, wall: summarize(a.wall) }];
      })),
    });
    console.log(`results: ${file}`);
  } finally {
    await shell.close();
    await fleet.stop();
    groups.removeSync();
  }
}
