// The servers under test run in child processes (node + tsx, with an IPC channel), so the load
// generator never shares their event loop and each one's RSS is its own. Parent side: startChild();
// child side: serveParent(). Every wait has a deadline; a child exits when its parent goes away.

import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { BENCH_DIR } from "./stats.js";

interface Request {
  readonly id: number;
  readonly op: string;
  readonly arg?: unknown;
}
interface Response {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}
interface Ready {
  readonly ready: unknown;
}

export interface ChildHandle<R> {
  readonly pid: number;
  /** What the child sent once it was ready (a URL, a nick). */
  readonly ready: R;
  request<T>(op: string, arg?: unknown, timeoutMs?: number): Promise<T>;
  /** Asks the child to stop (op "stop"), then SIGKILLs it if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts bench/children/NAME.ts and waits for its ready message. */
export async function startChild<R>(name: string, args: readonly string[], readyTimeoutMs = 30_000): Promise<ChildHandle<R>> {
  // BENCH_CHILD_ARGS: extra node flags for the children, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = process.env.BENCH_CHILD_ARGS?.split(" ").filter((a) => a.length > 0) ?? [];
  const child: ChildProcess = fork(join(BENCH_DIR, "children", `${name}.ts`), [...args], {
    execArgv: ["--import", "tsx", ...extra],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start child ${name}`);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on("message", (m: Response) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(`child ${name}: ${m.error ?? "failed"}`));
  });
  void exited.then(() => {
    for (const p of pending.values()) p.reject(new Error(`child ${name} exited`));
    pending.clear();
  });

  const ready = await new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`child ${name} not ready after ${readyTimeoutMs} ms`));
    }, readyTimeoutMs);
    const onMessage = (m: Ready | Response) => {
      if (!("ready" in m)) return;
      clearTimeout(timer);
      child.off("message", onMessage);
      resolve(m.ready as R);
    };
    child.on("message", onMessage);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`child ${name} exited before it was ready`));
    });
  });

  return {
    pid,
    ready,
    request<T>(op: string, arg?: unknown, timeoutMs = 30_000): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`child ${name}: ${op} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ id, op, arg } satisfies Request);
      });
    },
    async stop(graceMs = 10_000): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const id = nextId++;
      child.send({ id, op: "stop" } satisfies Request);
      const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs))]);
      if (timedOut) {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

export type Handlers = Record<string, (arg: unknown) => Promise<unknown> | unknown>;

/** Child side: answers the parent's requests; "stop" runs `onStop` and exits. */
export function serveParent(ready: unknown, handlers: Handlers, onStop: () => Promise<void>): void {
  const send = (m: Response | Ready) => process.send?.(m);
  process.on("disconnect", () => {
    // The parent died or gave up: do not linger holding ports and temp dirs.
    void onStop().finally(() => process.exit(1));
  });
  process.on("message", (m: Request) => {
    if (m.op === "stop") {
      void onStop().finally(() => process.exit(0));
      return;
    }
    const handler = handlers[m.op];
    if (!handler) {
      send({ id: m.id, ok: false, error: `unknown op ${m.op}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(m.arg))
      .then(
        (result) => send({ id: m.id, ok: true, result }),
        (err: unknown) => send({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  });
  send({ ready });
}

/** Memory figures of this process, in MiB. */
export function memoryMiB(): { rss: number; heapUsed: number; external: number } {
  const m = process.memoryUsage();
  const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
  return { rss: mib(m.rss), heapUsed: mib(m.heapUsed), external: mib(m.external) };
}
