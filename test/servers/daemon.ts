// Shared by every server harness that runs a long-lived process (Prometheus, Graphite, Alertmanager,
// Icinga 2): free ports, a child in the foreground with its output kept for failure messages,
// readiness by polling, SIGTERM-then-SIGKILL stops. Children and temp dirs die with the test process.

import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { LineRing } from "./fleet/line-ring.js";

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooked = false;

/**
 * vitest ends its fork workers with SIGTERM, which skips "exit" handlers, so the usual signals are
 * hooked too and then re-raised (when nothing else listens) to die as the default action would.
 */
function hook(): void {
  if (hooked) return;
  hooked = true;
  const cleanUp = () => {
    for (const c of live) c.kill("SIGKILL");
    live.clear();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    dirs.clear();
  };
  process.on("exit", cleanUp);
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    process.once(signal, () => {
      cleanUp();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/** A port free on `host` (loopback by default) a moment ago; the caller binds it, or retries if it cannot. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const a = server.address();
      const port = typeof a === "object" && a ? a.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no port from listen(0)"))));
    });
  });
}

/** A temp dir removed with the test process unless removeDir() removes it first. */
export async function tempDir(prefix: string): Promise<string> {
  hook();
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.add(d);
  return d;
}

export function removeDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  dirs.delete(d);
}

/** One server process; it can be started again after stop() (same argv, so same port and data). */
export class Daemon {
  private child: ChildProcess | null = null;
  private readonly lines = new LineRing(500);
  private exit: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly argv: readonly [string, ...string[]],
    private readonly opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ) {}

  logs(): string {
    return this.lines.text();
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Starts the process and waits until `ready` resolves true (polled), or fails with its output. */
  async start(ready: () => Promise<boolean>, deadlineMs = 60_000): Promise<void> {
    hook();
    const [bin, ...args] = this.argv;
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], ...(this.opts.cwd ? { cwd: this.opts.cwd } : {}), env: this.opts.env ?? process.env });
    live.add(child);
    this.child = child;
    for (const s of [child.stdout, child.stderr]) {
      s?.setEncoding("utf8");
      s?.on("data", (chunk: string) => this.lines.write(chunk));
    }
    let exited: string | null = null;
    this.exit = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        exited = `exited (${signal ?? code})`;
        live.delete(child);
        if (this.child === child) this.child = null;
        this.lines.push(`--- ${this.name} ${exited} ---`);
        resolve();
      }),
    );
    const end = Date.now() + deadlineMs;
    for (;;) {
      if (exited) throw new Error(`${this.name} ${exited} before it was ready:\n${this.logs()}`);
      if (await ready().catch(() => false)) return;
      if (Date.now() > end) {
        await this.stop();
        throw new Error(`${this.name} was not ready within ${deadlineMs} ms:\n${this.logs()}`);
      }
      await sleep(100);
    }
  }

  /** SIGTERM, then SIGKILL after 5 s. Idempotent. */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c) return;
    c.kill("SIGTERM");
    const timer = setTimeout(() => c.kill("SIGKILL"), 5000);
    await this.exit;
    clearTimeout(timer);
  }
}

/** A started Daemon for harnesses that never restart it; `logs` and `stop` may be passed around unbound. */
export interface StartedDaemon {
  readonly name: string;
  logs(): string;
  stop(): Promise<void>;
}

/** Starts `binary args` and waits for `ready` (20 s unless `readyMs`). */
export async function startDaemon(name: string, binary: string, args: readonly string[], ready: () => Promise<boolean>, opts: { env?: NodeJS.ProcessEnv; readyMs?: number } = {}): Promise<StartedDaemon> {
  const daemon = new Daemon(name, [binary, ...args], opts.env ? { env: opts.env } : {});
  await daemon.start(ready, opts.readyMs ?? 20_000);
  return { name, logs: () => daemon.logs(), stop: () => daemon.stop() };
}

/** Ready when GET url answers 2xx within 2 s. */
export const httpReady = (url: string) => async (): Promise<boolean> => {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok;
};
