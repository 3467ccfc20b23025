// A long-running server process for the alerting harnesses (Prometheus, Alertmanager, Icinga 2):
// spawned in the foreground with its output kept in a ring for failure messages, ready when an HTTP
// probe (or a predicate) says so, stopped with SIGTERM then SIGKILL, and killed with the test process.

import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

const live = new Set<ChildProcess>();
let hooked = false;

function hook(): void {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const c of live) c.kill("SIGKILL");
  };
  process.on("exit", killAll);
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.on(sig, () => {
      killAll();
      if (process.listenerCount(sig) === 1) process.kill(process.pid, sig);
    });
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      const port = typeof a === "object" && a ? a.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no port from listen(0)"))));
    });
  });
}

export interface Daemon {
  readonly name: string;
  logs(): string;
  /** SIGTERM, then SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
}

export async function startDaemon(name: string, binary: string, args: readonly string[], ready: () => Promise<boolean>, opts: { env?: NodeJS.ProcessEnv; readyMs?: number } = {}): Promise<Daemon> {
  hook();
  const lines: string[] = [];
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"], env: opts.env ?? process.env });
  live.add(child);
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    if (lines.length > 500) lines.splice(0, lines.length - 500);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once("exit", (code, signal) => {
    exited = true;
    live.delete(child);
    lines.push(`--- ${name} exited (${signal ?? code}) ---`);
    resolve();
  }));
  const logs = () => lines.join("\n");
  const stop = async () => {
    if (exited) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exit;
    clearTimeout(timer);
  };
  const end = Date.now() + (opts.readyMs ?? 20_000);
  for (;;) {
    if (exited) throw new Error(`${name} exited before it was ready:\n${logs()}`);
    if (await ready().catch(() => false)) break;
    if (Date.now() > end) {
      await stop();
      throw new Error(`${name} was not ready within ${opts.readyMs ?? 20_000} ms:\n${logs()}`);
    }
    await sleep(100);
  }
  return { name, logs, stop };
}

/** Ready when GET url answers 200 within a second. */
export const httpReady = (url: string) => async () => (await fetch(url, { signal: AbortSignal.timeout(1000) })).status === 200;
