// Runs a command on a fleet host with the real OpenSSH client, for test assertions: key auth only,
// BatchMode (never a prompt), host keys checked strictly against the fleet's known_hosts, and no
// ~/.ssh/config or /etc/ssh/ssh_config of the machine running the tests.

import { spawn } from "node:child_process";

export interface SshTarget {
  readonly address: string;
  readonly port: number;
}

export interface SshIdentity {
  readonly ssh: string;
  readonly user: string;
  readonly privateKeyPath: string;
  readonly knownHostsPath: string;
}

export interface ExecResult {
  /** The remote command's exit code; 255 when ssh itself failed; null if killed on timeout. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Kill ssh after this long (default 30 s). */
  readonly timeoutMs?: number;
  /** Written to the remote command's stdin. */
  readonly input?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** ssh's argv up to and including the destination: append a remote command. */
export function sshArgs(id: SshIdentity, target: SshTarget): string[] {
  return [
    "-F", "/dev/null",
    "-i", id.privateKeyPath,
    "-o", "IdentitiesOnly=yes",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${id.knownHostsPath}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=10",
    "-o", "LogLevel=ERROR",
    "-p", String(target.port),
    `${id.user}@${target.address}`,
  ];
}

export function runSsh(id: SshIdentity, target: SshTarget, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const child = spawn(id.ssh, [...sshArgs(id, target), "--", shellCommand(argv)], { stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  // Closed at once without input, so a remote command that reads stdin sees EOF rather than waiting.
  child.stdin.on("error", () => undefined).end(opts.input);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve, reject) => {
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: code === null ? `${stderr}[killed after ${timeoutMs} ms]` : stderr });
    });
  });
}

/**
 * sshd hands the command to the user's login shell as one string (`$SHELL -c "..."`), so each word is
 * quoted for a POSIX shell; words made only of safe characters stay bare, for readable logs.
 */
export function shellCommand(argv: readonly string[]): string {
  return argv.map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)).join(" ");
}
