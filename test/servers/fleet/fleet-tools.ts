// Finds (installing the Debian packages when missing) the programs the test fleet runs, and checks the
// two facts about this machine it relies on: all of 127.0.0.0/8 is routed to lo, so any 127.0.1.N can
// be bound without adding an address, and unshare(2) is allowed (root, not a locked-down container).

import { execFile } from "node:child_process";
import { mkdir, stat } from "node:fs/promises";
import { ensureDebianPackage } from "../ensure-package.js";

export interface FleetTools {
  readonly sshd: string;
  readonly sftpServer: string;
  readonly ssh: string;
  readonly sshKeygen: string;
  readonly unshare: string;
  readonly useradd: string;
  /** Whether this sshd knows PerSourcePenalties (OpenSSH >= 9.8). */
  readonly sshdHasPenalties: boolean;
}

/** sshd's privilege-separation chroot; the openssh-server package leaves it to systemd's RuntimeDirectory. */
const PRIVSEP_DIR = "/run/sshd";

let tools: Promise<FleetTools> | undefined;

export function ensureFleetTools(): Promise<FleetTools> {
  if (!tools) {
    const found = findTools();
    tools = found;
    // A failure is not cached: a later test may run after the operator fixed apt.
    found.catch(() => {
      if (tools === found) tools = undefined;
    });
  }
  return tools;
}

async function findTools(): Promise<FleetTools> {
  const [sshd, sftpServer, ssh, sshKeygen, unshare, useradd, ip] = await Promise.all([
    ensureDebianPackage("sshd", "openssh-server"),
    ensureDebianPackage("/usr/lib/openssh/sftp-server", "openssh-sftp-server"),
    ensureDebianPackage("ssh", "openssh-client"),
    ensureDebianPackage("ssh-keygen", "openssh-client"),
    ensureDebianPackage("unshare", "util-linux"),
    ensureDebianPackage("useradd", "passwd"),
    ensureDebianPackage("ip", "iproute2"),
  ]);
  if (process.getuid?.() !== 0) throw new Error("the test fleet needs root: it creates a user, mount namespaces and bind mounts");
  await mkdir(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
  if (((await stat(PRIVSEP_DIR)).mode & 0o022) !== 0) throw new Error(`${PRIVSEP_DIR} is group/world-writable: sshd refuses it`);

  const route = await output(ip, ["-4", "route", "get", "127.0.1.254"]);
  if (!/^local 127\.0\.1\.254 dev lo\b/.test(route)) {
    throw new Error(`127.0.1.254 is not routed to lo (the fleet binds 127.0.1.N without adding addresses): "ip route get" said ${route}`);
  }
  await output(unshare, ["--mount", "--propagation", "private", "true"]).catch((err: unknown) => {
    throw new Error("unshare --mount failed: the fleet needs mount namespaces (root, CAP_SYS_ADMIN)", { cause: err });
  });
  // An sshd too old for -V still prints "OpenSSH_X.Y" in the usage text it answers an unknown option with.
  const version = /OpenSSH_(\d+)\.(\d+)/.exec(await output(sshd, ["-V"]).catch((err: unknown) => String(err)));
  const [major, minor] = [Number(version?.[1] ?? 0), Number(version?.[2] ?? 0)];
  return { sshd, sftpServer, ssh, sshKeygen, unshare, useradd, sshdHasPenalties: major > 9 || (major === 9 && minor >= 8) };
}

/** Runs a program, resolving with stdout+stderr; rejects (with that output) when it exits non-zero. */
export function output(file: string, args: readonly string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, encoding: "utf8" }, (error, stdout, stderr) => {
      const text = `${stdout}${stderr}`.trim();
      if (error) reject(new Error(`${file} ${args.join(" ")} failed: ${text || error.message}`, { cause: error }));
      else resolve(text);
    });
  });
}
