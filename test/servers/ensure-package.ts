// Makes sure a Debian package's binary exists before an integration test starts its server, installing
// the package with apt-get when it is missing (a fresh CI machine, running as root). apt runs at most
// one at a time across vitest workers: a lock file in os.tmpdir() serialises them, and apt's own dpkg
// and lists locks (held by unattended-upgrades, say) are waited for rather than failed on.

import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, open, readFile, stat, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, isAbsolute, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** sbin directories are searched too: a non-login root shell (or CI) may not have them on PATH. */
const EXTRA_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
const LOCK_PATH = join(tmpdir(), "tugboat-apt.lock");
/** How long to wait for another worker's (or apt's own) lock before giving up. */
const LOCK_WAIT_MS = 15 * 60_000;
/** A lock file this old is left over from a crash even if its pid was reused. */
const STALE_LOCK_MS = 30 * 60_000;
const UPDATE_TIMEOUT_MS = 5 * 60_000;
const INSTALL_TIMEOUT_MS = 10 * 60_000;

let aptUpdated = false;
const pending = new Map<string, Promise<string>>();

/**
 * Returns the absolute path of `binary`, installing Debian package `pkg` first when it is missing.
 * Concurrent calls for the same binary in one process share a single install.
 */
export function ensureDebianPackage(binary: string, pkg: string): Promise<string> {
  const key = `${binary}\0${pkg}`;
  let result = pending.get(key);
  if (!result) {
    result = ensure(binary, pkg);
    pending.set(key, result);
    // A failure is not cached: a later test may run after the operator fixed apt.
    result.catch(() => pending.delete(key));
  }
  return result;
}

async function ensure(binary: string, pkg: string): Promise<string> {
  const found = await findExecutable(binary);
  if (found) return found;

  const aptGet = await findExecutable("apt-get");
  if (!aptGet) {
    throw new Error(`${binary} is not installed and apt-get is not available: install the "${pkg}" package (or its equivalent) by hand`);
  }
  if (process.getuid?.() !== 0) {
    throw new Error(`${binary} is not installed and installing "${pkg}" needs root: run the tests as root, or run "sudo apt-get install ${pkg}"`);
  }

  return withLock(async () => {
    // Another worker may have installed it while this one waited for the lock.
    const installedMeanwhile = await findExecutable(binary);
    if (installedMeanwhile) return installedMeanwhile;
    if (!aptUpdated) {
      await runApt(aptGet, ["update"], UPDATE_TIMEOUT_MS);
      aptUpdated = true;
    }
    await runApt(aptGet, ["install", "-y", "--no-install-recommends", pkg], INSTALL_TIMEOUT_MS);
    const installed = await findExecutable(binary);
    if (!installed) {
      throw new Error(`apt-get installed "${pkg}" but ${binary} is still not found in PATH or ${EXTRA_DIRS.join(", ")}`);
    }
    return installed;
  });
}

async function findExecutable(binary: string): Promise<string | null> {
  const candidates = isAbsolute(binary)
    ? [binary]
    : [...(process.env["PATH"] ?? "").split(delimiter).filter((dir) => isAbsolute(dir)), ...EXTRA_DIRS].map((dir) =>
        join(dir, binary),
      );
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // Not here; try the next directory.
    }
  }
  return null;
}

interface RunResult {
  readonly code: number | string | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(file: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ code: 0, stdout, stderr });
          return;
        }
        const code = error.killed ? `killed by ${error.signal ?? "a signal"} after ${timeoutMs} ms` : (error.code ?? null);
        // A spawn failure (ENOENT, EACCES) has no output; its message is the explanation.
        resolve({ code, stdout, stderr: stderr || stdout ? stderr : error.message });
      },
    );
  });
}

const APT_LOCK_ERROR = /Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock directory|is another process using it/i;

/** Runs apt-get, waiting (and retrying) while dpkg or the package lists are locked by another process. */
async function runApt(aptGet: string, args: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  // DPkg::Lock::Timeout makes apt >= 1.9.11 wait on the dpkg lock itself; older apt ignores the
  // option, and the lists lock taken by "update" is not covered by it, hence the retry loop too.
  const fullArgs = ["-o", "DPkg::Lock::Timeout=120", "-q", ...args];
  for (;;) {
    const result = await run(aptGet, fullArgs, timeoutMs);
    if (result.code === 0) return;
    const output = `${result.stderr}\n${result.stdout}`;
    if (APT_LOCK_ERROR.test(output) && Date.now() < deadline) {
      await sleep(2000);
      continue;
    }
    throw new Error(`"apt-get ${args.join(" ")}" failed (exit ${String(result.code)}):\n${tailLines(output, 30)}`);
  }
}

function tailLines(text: string, count: number): string {
  return text.trim().split("\n").slice(-count).join("\n");
}

/** Holds an exclusive lock file (O_EXCL create) while `fn` runs; stale locks of dead pids are removed. */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  const token = `${process.pid}`;
  for (;;) {
    try {
      const handle = await open(LOCK_PATH, "wx", 0o644);
      await handle.writeFile(token);
      await handle.close();
      break;
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw new Error(`cannot create apt lock file ${LOCK_PATH}`, { cause: err });
    }
    const holder = await readLockHolder();
    if (holder === null || (await isStale(holder))) {
      // Two waiters may both see a stale lock and race here; the worst case is two apt-get runs,
      // which apt's own locks (and the retry in runApt) then serialise.
      await unlink(LOCK_PATH).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${LOCK_WAIT_MS / 1000} s waiting for ${LOCK_PATH} (held by pid ${holder}); remove it if that process is gone`);
    }
    await sleep(250);
  }
  try {
    return await fn();
  } finally {
    const holder = await readLockHolder();
    if (holder === process.pid) await unlink(LOCK_PATH).catch(() => undefined);
  }
}

async function readLockHolder(): Promise<number | null> {
  try {
    const pid = Number.parseInt(await readFile(LOCK_PATH, "utf8"), 10);
    // An empty file is a lock being written right now, not a stale one.
    return Number.isFinite(pid) ? pid : 0;
  } catch {
    return null;
  }
}

async function isStale(pid: number): Promise<boolean> {
  try {
    if (Date.now() - (await stat(LOCK_PATH)).mtimeMs > STALE_LOCK_MS) return true;
  } catch {
    return true;
  }
  if (pid === 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return isErrno(err, "ESRCH");
  }
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && "code" in err && err.code === code;
}
