// One simulated host: a real sshd as pid 1 of its own pid, mount and UTS namespaces, with the host's
// directories bind-mounted over /srv and the deploy user's home, so a command run over SSH sees only this
// host's files (and `hostname` prints its name). Start waits for the SSH banner; stop kills the namespace.

import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { killNamespace, track, untrack, type Killable } from "./fleet-cleanup.js";
import { LineRing } from "./line-ring.js";
import { readSshBanner } from "./ssh-banner.js";

export interface HostSpec {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly sshd: string;
  readonly unshare: string;
  readonly configPath: string;
  /** The mounts that make this host's view (its /srv, its home, ...): see host-files.ts. */
  readonly fstabPath: string;
  /** Where the pid of `unshare` is recorded, for the orphan reaper. */
  readonly pidRecordPath: string;
}

export class PortInUseError extends Error {}

/**
 * Runs inside the new namespaces, before sshd. Mounts made there are private to the host and are
 * inherited by every sshd child, so sessions see them too. One `mount -a` for all of them: every
 * exec costs ~10-20 ms of CPU on these VMs, which adds up over 200 hosts.
 */
const SCRIPT = ["set -e", "umask 022", 'echo "$1" > /proc/sys/kernel/hostname', 'mount -a -T "$2"', 'exec "$3" -D -e -f "$4"'].join("\n");

/** Connection refused: sshd has not bound yet. Try again soon, then less often. */
const POLL_MIN_MS = 20;
const POLL_MAX_MS = 250;
const STOP_GRACE_MS = 5_000;

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly status: { text: string | null };
  /** The log line that opened this launch: what follows it is this launch's output. */
  readonly startLine: string;
}

export class HostSshd implements Killable {
  private running: Running | null = null;
  private readonly log = new LineRing(500);

  constructor(private readonly spec: HostSpec) {}

  /** Starts sshd and resolves once it sends its banner; rejects (with sshd's output) by `deadline`. */
  async start(deadline: number): Promise<void> {
    if (this.running) return;
    const s = this.spec;
    const startLine = `--- ${new Date().toISOString()} starting ${s.name} on ${s.address}:${s.port} ---`;
    this.log.push(startLine);
    // --kill-child: if unshare dies, pid 1 gets SIGKILL (and with it the whole namespace).
    const args = ["--pid", "--fork", "--kill-child", "--mount", "--uts", "--propagation", "private", "--mount-proc"];
    const scriptArgs = [s.name, s.fstabPath, s.sshd, s.configPath];
    const child = spawn(s.unshare, [...args, "/bin/sh", "-c", SCRIPT, "sh", ...scriptArgs], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" },
    });
    const status: { text: string | null } = { text: null };
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => this.log.write(chunk));
    const exited = new Promise<void>((resolve) => {
      child.once("error", (err) => {
        status.text = `failed to spawn: ${err.message}`;
        resolve();
      });
      // "close", not "exit": it comes after stderr is drained, so the log holds sshd's last words.
      child.once("close", (code, signal) => {
        status.text = signal ? `killed by ${signal}` : `exited with code ${String(code)}`;
        this.log.push(`--- ${s.name}: ${status.text} ---`);
        resolve();
      });
    });
    const running: Running = { child, exited, status, startLine };
    this.running = running;
    track(this);
    void exited.then(() => {
      if (this.running === running) {
        this.running = null;
        untrack(this);
      }
    });
    if (child.pid !== undefined) await writeFile(s.pidRecordPath, String(child.pid));

    try {
      await this.waitForBanner(running, deadline);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private async waitForBanner(running: Running, deadline: number): Promise<void> {
    const { name, address, port } = this.spec;
    for (let poll = POLL_MIN_MS; ; poll = Math.min(poll * 2, POLL_MAX_MS)) {
      if (running.status.text !== null) {
        const output = this.log.text().split(running.startLine).at(-1) ?? "";
        const message = `sshd for ${name} (${address}:${port}) ${running.status.text} before it served:${output}`;
        if (output.includes("Address already in use")) throw new PortInUseError(message);
        throw new Error(message);
      }
      // Once connected, wait as long as the deadline allows: each connection costs sshd a fork and a
      // re-exec, and giving up on a slow one (200 hosts starting on 2 cores) only adds another.
      const banner = await readSshBanner(address, port, Math.max(deadline - Date.now(), 1_000));
      if (banner?.startsWith("SSH-2.0-")) return;
      if (Date.now() > deadline) {
        throw new Error(`sshd for ${name} sent no SSH banner on ${address}:${port} in time (got ${JSON.stringify(banner)}):\n${this.log.text()}`);
      }
      await sleep(poll);
    }
  }

  /**
   * Kills every process of the host at once (sshd, sessions, the commands they run), as a power cut
   * would, and resolves when they are gone: unshare exits only after pid 1 has reaped the namespace.
   * (util-linux 2.38's unshare then logs "sigprocmask unblock failed" and exits 1: expected.)
   */
  async stop(): Promise<void> {
    const running = this.running;
    if (!running) return;
    const pid = running.child.pid;
    if (pid !== undefined) killNamespace(pid);
    const gone = await Promise.race([running.exited.then(() => true), sleep(STOP_GRACE_MS, false, { ref: false })]);
    if (!gone) throw new Error(`${this.spec.name}: unshare (pid ${String(pid)}) did not exit ${STOP_GRACE_MS} ms after SIGKILL`);
  }

  killNow(): void {
    const pid = this.running?.child.pid;
    if (pid !== undefined) killNamespace(pid);
  }

  logs(): string {
    return this.log.text();
  }
}
