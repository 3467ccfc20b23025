// Lays out a fleet's temp dir: the client key, authorized_keys and known_hosts at the top; per host, a
// root-only sshd/<name>/ (config, host key) and hosts/<name>/ (its private /srv and home, which the host
// bind-mounts and then hides under a tmpfs, so one host cannot read another's through the shared /tmp).

import { chown, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { DeployUser } from "./deploy-user.js";
import { RUN_DIR } from "./fleet-cleanup.js";
import type { PlannedHost } from "./fleet-plan.js";
import { output } from "./fleet-tools.js";
import { writeNoisyHome, writeNoisyPasswd } from "./noisy-home.js";
import { generateEd25519Key, knownHostsLine } from "./openssh-key.js";
import { renderSshdConfig } from "./sshd-config.js";

export interface FleetPaths {
  readonly dir: string;
  readonly privateKey: string;
  readonly authorizedKeys: string;
  readonly knownHosts: string;
  /** Parent of every host's srv and home. */
  readonly hostsDir: string;
  readonly runDir: string;
}

export interface HostFiles {
  readonly host: PlannedHost;
  readonly configPath: string;
  readonly hostKeyPath: string;
  /** The public key known_hosts lists for this host: not the one it serves on the wrong-key host. */
  readonly listedKey: string;
  readonly srvDir: string;
  readonly fstabPath: string;
  readonly pidRecordPath: string;
}

export interface SshdSettings {
  readonly port: number;
  readonly user: DeployUser;
  readonly maxStartups: string;
  readonly sftpServer: string;
  readonly perSourcePenalties: boolean;
}

export function fleetPaths(dir: string): FleetPaths {
  return {
    dir,
    privateKey: join(dir, "client", "id_ed25519"),
    // sshd reads this as the deploy user: it must be readable by all, and so must its dirs be.
    authorizedKeys: join(dir, "authorized_keys"),
    knownHosts: join(dir, "known_hosts"),
    hostsDir: join(dir, "hosts"),
    runDir: join(dir, RUN_DIR),
  };
}

export async function writeClientKey(sshKeygen: string, paths: FleetPaths): Promise<void> {
  await mkdir(join(paths.dir, "client"), { mode: 0o700 });
  await mkdir(paths.hostsDir, { mode: 0o755 });
  await mkdir(paths.runDir, { mode: 0o755 });
  await output(sshKeygen, ["-q", "-t", "ed25519", "-N", "", "-C", "tugboat-fleet-client", "-f", paths.privateKey]);
  await writeFile(paths.authorizedKeys, await readFile(`${paths.privateKey}.pub`, "utf8"), { mode: 0o644 });
}

export async function writeHostFiles(paths: FleetPaths, host: PlannedHost, user: DeployUser): Promise<HostFiles> {
  const sshdDir = join(paths.dir, "sshd", host.name);
  const dataDir = join(paths.hostsDir, host.name);
  const srvDir = join(dataDir, "srv");
  const homeDir = join(dataDir, "home");
  await mkdir(sshdDir, { recursive: true, mode: 0o700 });
  await mkdir(join(srvDir, "deployment"), { recursive: true, mode: 0o755 });
  await mkdir(homeDir, { mode: 0o755 });
  await chown(join(srvDir, "deployment"), user.uid, user.gid);
  await chown(homeDir, user.uid, user.gid);

  const served = generateEd25519Key(host.name);
  const hostKeyPath = join(sshdDir, "ssh_host_ed25519_key");
  await writeFile(hostKeyPath, served.privateKey, { mode: 0o600 });
  await writeFile(`${hostKeyPath}.pub`, `${served.publicKey}\n`, { mode: 0o644 });
  const listedKey = host.role === "wrongKey" ? generateEd25519Key(`${host.name} (not served)`).publicKey : served.publicKey;

  const mounts: Array<[source: string, target: string]> = [
    [srvDir, "/srv"],
    [homeDir, user.home],
  ];
  if (host.role === "hanging") await writeFile(join(srvDir, "HANG"), "restart hangs on this host\n", { mode: 0o644 });
  if (host.role === "noisy") {
    await writeNoisyHome(homeDir, user);
    const passwdPath = join(dataDir, "passwd");
    await writeNoisyPasswd(passwdPath, user);
    mounts.push([passwdPath, "/etc/passwd"]);
  }
  const fstabPath = join(sshdDir, "fstab");
  await writeFile(fstabPath, renderFstab(mounts, paths.hostsDir), { mode: 0o600 });
  return {
    host,
    configPath: join(sshdDir, "sshd_config"),
    hostKeyPath,
    listedKey,
    srvDir,
    fstabPath,
    pidRecordPath: join(paths.runDir, `${host.name}.pid`),
  };
}

/**
 * Bind mounts, then an empty read-only tmpfs over the dir holding every host's srv and home: mounted
 * last, it hides the other hosts' files (which the shared /tmp would expose) but not this host's own,
 * already bound elsewhere.
 */
export function renderFstab(binds: ReadonlyArray<[source: string, target: string]>, hiddenDir: string): string {
  const lines = binds.map(([source, target]) => `${fstabPath(source)} ${fstabPath(target)} none bind 0 0`);
  lines.push(`tugboat-hidden ${fstabPath(hiddenDir)} tmpfs ro,size=4k,mode=0755 0 0`);
  return `${lines.join("\n")}\n`;
}

/** fstab separates fields with whitespace: octal escapes keep a path with spaces in one field. */
function fstabPath(path: string): string {
  return path.replace(/[\s\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

/** Written again on each start attempt: the port is chosen (and may be re-chosen) after the files exist. */
export async function writeSshdConfig(paths: FleetPaths, files: HostFiles, s: SshdSettings): Promise<void> {
  const config = renderSshdConfig({
    address: files.host.address,
    port: s.port,
    hostKeyPath: files.hostKeyPath,
    // sshd writes its own pid as seen in its namespace: always 1. Kept out of /run/sshd.pid all the same.
    pidFilePath: join(dirname(files.configPath), "sshd.pid"),
    authorizedKeysPath: paths.authorizedKeys,
    user: s.user.name,
    maxStartups: s.maxStartups,
    sftpServer: s.sftpServer,
    perSourcePenalties: s.perSourcePenalties,
  });
  await writeFile(files.configPath, config, { mode: 0o600 });
}

export async function writeKnownHosts(paths: FleetPaths, hosts: readonly HostFiles[], port: number): Promise<void> {
  const lines = hosts.map((h) => knownHostsLine(h.host.address, port, h.listedKey, h.host.name));
  await writeFile(paths.knownHosts, `${lines.join("\n")}\n`, { mode: 0o644 });
}
