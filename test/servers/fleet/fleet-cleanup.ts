// Makes sure no simulated host outlives the test process: live hosts are SIGKILLed on exit and on the
// signals vitest uses to end its workers, and fleets orphaned by a process that was itself SIGKILLed
// (whose dir names a dead owner pid) are killed and removed by the next startFleet.

import { readFileSync, rmSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Something that can be killed synchronously from an exit handler. */
export interface Killable {
  killNow(): void;
}

export const FLEET_DIR_PREFIX = "tugboat-fleet-";
const OWNER_PID_FILE = "owner.pid";
/** In each fleet dir: run/<host>.pid holds the pid of the `unshare` that runs the host. */
export const RUN_DIR = "run";

const live = new Set<Killable>();
const dirs = new Set<string>();
let hooked = false;
let reaped: Promise<void> | undefined;

export function track(item: Killable): void {
  installExitHook();
  live.add(item);
}

export function untrack(item: Killable): void {
  live.delete(item);
}

export async function claimDir(dir: string): Promise<void> {
  installExitHook();
  dirs.add(dir);
  await writeFile(join(dir, OWNER_PID_FILE), String(process.pid));
}

export async function releaseDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** Once per process: kills and removes the fleets of test processes that died without stopping them. */
export function reapOrphanFleets(): Promise<void> {
  reaped ??= reap();
  return reaped;
}

/**
 * vitest ends its fork workers with SIGTERM, which skips "exit" handlers, so the usual signals are
 * hooked too and then re-raised (when nothing else listens) to die as the default action would.
 */
function installExitHook(): void {
  if (hooked) return;
  hooked = true;
  const cleanUp = (): void => {
    for (const item of live) item.killNow();
    live.clear();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
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

async function reap(): Promise<void> {
  const root = tmpdir();
  for (const name of await readdir(root).catch(() => [])) {
    if (!name.startsWith(FLEET_DIR_PREFIX)) continue;
    const dir = join(root, name);
    const owner = await readPid(join(dir, OWNER_PID_FILE));
    // No owner file yet: another process is creating this dir right now.
    if (owner === null || isAlive(owner)) continue;
    for (const file of await readdir(join(dir, RUN_DIR)).catch(() => [])) {
      const pid = await readPid(join(dir, RUN_DIR, file));
      // Only a pid whose command line names this dir: the number may have been reused since.
      if (pid !== null && commandLine(pid).includes(dir)) killNamespace(pid);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * SIGKILLs pid 1 of the namespace an `unshare --pid --fork` made: the kernel then kills everything else
 * in it, and unshare exits once that is done. If pid 1 is not there (not forked yet, or gone), unshare
 * itself is killed. Synchronous, for exit handlers.
 */
export function killNamespace(unsharePid: number): void {
  signal(namespaceInit(unsharePid) ?? unsharePid, "SIGKILL");
}

/** The host-side pid of pid 1 in the namespace an `unshare --fork` made, or null once it is gone. */
function namespaceInit(unsharePid: number): number | null {
  try {
    const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "utf8").trim().split(" ");
    const pid = Number.parseInt(children[0] ?? "", 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

async function readPid(path: string): Promise<number | null> {
  try {
    const pid = Number.parseInt(await readFile(path, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return err instanceof Error && "code" in err && err.code === "EPERM";
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

