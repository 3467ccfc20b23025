// The two baselines of the fleet-deploy benchmark, each run as a fresh controller process inside its
// own cpuacct cgroup: the shell script (shell-deploy.sh: xargs -P + OpenSSH) and Ansible (the Debian
// package, ansible-playbook with deploy.yml / rollback.yml). Each returns its wall time and every host's
// time; the caller adds CPU, memory and bytes around it. Also: checking what every host ended up with.

import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FleetHost } from "../../test/servers/fleet.js";
import { runInGroup, type CommandResult, type CpuGroup } from "./measure.js";
import type { RepoFile } from "./repo.js";

const HERE = dirname(fileURLToPath(import.meta.url));
export const SHELL_SCRIPT = join(HERE, "shell-deploy.sh");
const ANSIBLE_DIR = join(HERE, "ansible");

export interface Identity {
  readonly user: string;
  readonly privateKeyPath: string;
  readonly knownHostsPath: string;
  readonly port: number;
}

export interface ArmRun {
  readonly wallMs: number;
  /** Every host's time (ms): its ssh session (shell), the sum of its task times (Ansible). */
  readonly hostMs: Record<string, number>;
  readonly failedHosts: string[];
  readonly command: CommandResult;
}

export class ShellArm {
  constructor(
    private readonly group: CpuGroup,
    private readonly id: Identity,
    private readonly repo: string,
    private readonly workDir: string,
    private readonly parallel: number,
  ) {}

  /** Where OpenSSH's master connections live while `connect`ed (a Unix socket path is at most 107 bytes). */
  private get controlDir(): string {
    return join(this.workDir, "cm");
  }

  /** Opens (untimed) or closes a master connection to every host; runs over them until closed. */
  async masters(mode: "connect" | "disconnect", hosts: readonly FleetHost[]): Promise<void> {
    mkdirSync(this.controlDir, { recursive: true });
    const r = await this.run(mode, hosts, "/", "0", 120_000);
    if (mode === "connect" && r.failedHosts.length) throw new Error(`shell connect failed on ${r.failedHosts.join(", ")}: ${r.command.stderr.slice(-400)}`);
    this.multiplexed = mode === "connect";
  }

  private multiplexed = false;

  async run(mode: "deploy" | "rollback" | "connect" | "disconnect", hosts: readonly FleetHost[], base: string, sha: string, timeoutMs: number): Promise<ArmRun> {
    const hostsFile = join(this.workDir, `shell-hosts-${hosts.length}.txt`);
    writeFileSync(hostsFile, `${hosts.map((h) => h.address).join("\n")}\n`);
    const env = { ...process.env, REPO: this.repo, SSH_KEY: this.id.privateKeyPath, KNOWN_HOSTS: this.id.knownHostsPath, SSH_PORT: String(this.id.port), SSH_USER: this.id.user, PARALLEL: String(this.parallel), RESTART: "true", ...(this.multiplexed || mode === "connect" || mode === "disconnect" ? { CONTROL_DIR: this.controlDir } : {}) };
    const command = await runInGroup(this.group, ["/bin/bash", SHELL_SCRIPT, mode, hostsFile, base, sha], { env, timeoutMs });
    const byAddress = new Map(hosts.map((h) => [h.address, h.name]));
    const hostMs: Record<string, number> = {};
    const failedHosts: string[] = [];
    for (const line of command.stdout.split("\n")) {
      const m = /^(\S+) (\d+) (\d+) (\d+)$/.exec(line);
      if (!m) continue;
      const name = byAddress.get(m[1]!) ?? m[1]!;
      hostMs[name] = (Number(m[3]) - Number(m[2])) / 1000;
      if (m[4] !== "0") failedHosts.push(name);
    }
    for (const h of hosts) if (!(h.name in hostMs)) failedHosts.push(h.name);
    return { wallMs: command.wallMs, hostMs, failedHosts, command };
  }
}

export class AnsibleArm {
  private readonly cfg: string;

  constructor(
    private readonly group: CpuGroup,
    private readonly id: Identity,
    private readonly repo: string,
    /** Short: OpenSSH's control sockets live under it (a Unix socket path is at most 107 bytes). */
    private readonly workDir: string,
    private readonly forks: number,
  ) {
    mkdirSync(join(workDir, "cp"), { recursive: true });
    mkdirSync(join(workDir, "local"), { recursive: true });
    this.cfg = join(workDir, "ansible.cfg");
    const sshArgs = [
      // Ansible's own defaults (compression, one master connection per host kept 60 s) ...
      "-C -o ControlMaster=auto -o ControlPersist=60s",
      // ... plus the fleet's identity and host keys, checked strictly, no ~/.ssh/config.
      `-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile=${id.knownHostsPath} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes`,
    ].join(" ");
    writeFileSync(
      this.cfg,
      [
        "[defaults]",
        `forks = ${forks}`,
        "host_key_checking = True",
        "gathering = explicit",
        "interpreter_python = /usr/bin/python3",
        "retry_files_enabled = False",
        "deprecation_warnings = False",
        "timeout = 10",
        `local_tmp = ${join(workDir, "local")}`,
        `callback_plugins = ${join(ANSIBLE_DIR, "callback_plugins")}`,
        "callbacks_enabled = host_times, ansible.posix.profile_tasks",
        "",
        "[ssh_connection]",
        "pipelining = True",
        `control_path_dir = ${join(workDir, "cp")}`,
        `ssh_args = ${sshArgs}`,
        "",
      ].join("\n"),
    );
  }

  private inventory(hosts: readonly FleetHost[]): string {
    const file = join(this.workDir, `inventory-${hosts.length}.ini`);
    const lines = ["[fleet]", ...hosts.map((h) => `${h.name} ansible_host=${h.address}`), "", "[fleet:vars]", `ansible_port=${this.id.port}`, `ansible_user=${this.id.user}`, `ansible_ssh_private_key_file=${this.id.privateKeyPath}`, ""];
    writeFileSync(file, lines.join("\n"));
    return file;
  }

  async run(mode: "deploy" | "rollback", hosts: readonly FleetHost[], base: string, sha: string, timeoutMs: number, tag: string): Promise<ArmRun> {
    const inv = this.inventory(hosts);
    const times = join(this.workDir, `times-${tag}.json`);
    const tarball = join(this.workDir, `release-${tag}.tar`);
    const play = join(ANSIBLE_DIR, mode === "deploy" ? "deploy.yml" : "rollback.yml");
    const vars = JSON.stringify({ base, sha, tarball });
    // deploy: the tarball is built inside the timed command, as the shell baseline builds its own.
    const script = mode === "deploy" ? 'git --git-dir="$1" archive --format=tar -o "$2" "$3" && shift 3 && exec "$@"' : 'shift 3 && exec "$@"';
    const argv = ["/bin/sh", "-c", script, "sh", this.repo, tarball, sha, "ansible-playbook", "-i", inv, play, "-e", vars];
    const env = { ...process.env, ANSIBLE_CONFIG: this.cfg, BENCH_HOST_TIMES: times, ANSIBLE_NOCOLOR: "1" };
    const command = await runInGroup(this.group, argv, { env, timeoutMs, cwd: this.workDir });
    // ControlPersist masters outlive ansible-playbook: end them (their CPU stays counted in the group).
    await this.group.killAll();
    let parsed: Record<string, { ms: number; tasks: number; failed: number; unreachable: number }> = {};
    try {
      parsed = JSON.parse(readFileSync(times, "utf8")) as typeof parsed;
    } catch {
      // No stats: the playbook did not finish; every host counts as failed below.
    }
    const hostMs: Record<string, number> = {};
    const failedHosts: string[] = [];
    for (const h of hosts) {
      const t = parsed[h.name];
      if (!t) {
        failedHosts.push(h.name);
        continue;
      }
      hostMs[h.name] = t.ms;
      if (t.failed > 0 || t.unreachable > 0) failedHosts.push(h.name);
    }
    return { wallMs: command.wallMs, hostMs, failedHosts, command };
  }
}

/** The tree at each tag: v1's files, then each change applied in turn. */
export function treesByTag(files: readonly RepoFile[], changes: ReadonlyArray<ReadonlyArray<{ path: string; content: string }>>): Array<Map<string, RepoFile>> {
  const trees: Array<Map<string, RepoFile>> = [new Map(files.map((f) => [f.path, f]))];
  for (const set of changes) {
    const next = new Map(trees.at(-1)!);
    for (const c of set) next.set(c.path, { path: c.path, mode: "100644", content: c.content });
    trees.push(next);
  }
  return trees;
}

export interface Verification {
  readonly hosts: number;
  readonly currentRight: number;
  readonly changedFilesRight: number;
  readonly fileCountRight: number;
  readonly fullyCompared: number;
  readonly problems: string[];
}

const EXTRAS = new Set([".tugboat-revision", ".tugboat-complete", ".tugboat-index", "DEPLOY_UNFINISHED"]);

function countFiles(dir: string, top = true): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (top && EXTRAS.has(e.name)) continue;
    if (e.isDirectory()) n += countFiles(join(dir, e.name), false);
    else n++;
  }
  return n;
}

/**
 * What an operator would check by hand on every host, read through each host's /srv: `current` names
 * releases/SHA (relative or absolute link), the files the last change touched hold their new content,
 * and the release holds exactly the tree's number of files. On `fullSample` hosts (first, last, middle)
 * every file is compared: content, executable bit, symlink target.
 */
export function verifyHosts(hosts: readonly FleetHost[], base: string, sha: string, tree: Map<string, RepoFile>, changed: readonly string[], fullSample = 3): Verification {
  const problems: string[] = [];
  let currentRight = 0;
  let changedFilesRight = 0;
  let fileCountRight = 0;
  let fullyCompared = 0;
  const sample = new Set([0, hosts.length - 1, Math.floor(hosts.length / 2)].slice(0, fullSample));
  hosts.forEach((h, i) => {
    const root = join(h.srv, base.replace(/^\/srv\//, ""));
    let target: string;
    try {
      target = readlinkSync(join(root, "current"));
    } catch (e) {
      problems.push(`${h.name}: no current link (${(e as NodeJS.ErrnoException).code})`);
      return;
    }
    if (basename(target) !== sha) {
      problems.push(`${h.name}: current -> ${target}, expected releases/${sha}`);
      return;
    }
    currentRight++;
    const rel = join(root, "releases", sha);
    const bad = changed.filter((p) => {
      try {
        return readFileSync(join(rel, p), "utf8") !== tree.get(p)!.content;
      } catch {
        return true;
      }
    });
    if (bad.length) problems.push(`${h.name}: wrong content in ${bad.join(", ")}`);
    else changedFilesRight++;
    const n = countFiles(rel);
    if (n !== tree.size) problems.push(`${h.name}: ${n} files in the release, the tree has ${tree.size}`);
    else fileCountRight++;
    if (sample.has(i)) {
      fullyCompared++;
      for (const f of tree.values()) {
        const p = join(rel, f.path);
        try {
          if (f.mode === "120000") {
            if (!lstatSync(p).isSymbolicLink() || readlinkSync(p) !== f.content) problems.push(`${h.name}: ${f.path} is not a link to ${f.content}`);
          } else if (readFileSync(p, "utf8") !== f.content) problems.push(`${h.name}: ${f.path} differs`);
          else if (((statSync(p).mode & 0o100) !== 0) !== (f.mode === "100755")) problems.push(`${h.name}: ${f.path} has the wrong executable bit`);
        } catch (e) {
          problems.push(`${h.name}: ${f.path}: ${(e as NodeJS.ErrnoException).code}`);
        }
        if (problems.length > 50) break;
      }
    }
  });
  return { hosts: hosts.length, currentRight, changedFilesRight, fileCountRight, fullyCompared, problems: problems.slice(0, 20) };
}
