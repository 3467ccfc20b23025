// Shared by the metric server harnesses (prometheus.ts, graphite.ts): free loopback ports, a child
// process in the foreground with its output kept for failure messages, readiness by polling, and
// SIGTERM-then-SIGKILL stops. Children and temp dirs die with the test process.

import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooked = false;

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

/** A loopback port that was free a moment ago (one helper for every server harness). */
export { freePort } from "./daemon.js";

export class Daemon {
  private child: ChildProcess | null = null;
  private readonly lines: string[] = [];
  private exit: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly argv: readonly [string, ...string[]],
    private readonly opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ) {}

  logs(): string {
    return this.lines.slice(-200).join("\n");
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
      s?.on("data", (chunk: string) => {
        this.lines.push(...chunk.split("\n").filter(Boolean));
        if (this.lines.length > 2000) this.lines.splice(0, this.lines.length - 2000);
      });
    }
    let exited: string | null = null;
    this.exit = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        exited = `exited with ${code ?? signal}`;
        live.delete(child);
        if (this.child === child) this.child = null;
        resolve();
      }),
    );
    const end = Date.now() + deadlineMs;
    for (;;) {
      if (exited) throw new Error(`${this.name} ${exited} before it was ready:\n${this.logs()}`);
      if (await ready().catch(() => false)) return;
      if (Date.now() > end) {
        await this.stop();
        throw new Error(`${this.name} not ready within ${deadlineMs} ms:\n${this.logs()}`);
      }
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c) return;
    c.kill("SIGTERM");
    const timer = setTimeout(() => c.kill("SIGKILL"), 5000);
    await this.exit;
    clearTimeout(timer);
  }
}

/** GET url within 2 s: true on a 2xx answer. */
export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.ok;
}
