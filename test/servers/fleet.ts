// Starts the test fleet the sync engine deploys to: up to 200 hosts, each a real OpenSSH sshd on its own
// loopback address (127.0.1.N) with its own /srv, host key and hostname, plus optional misbehaving hosts
// (tarpit, hanging restart, noisy ~/.bashrc, wrong host key). Hosts can be stopped and started again;
// everything is killed and removed by stop(), and on exit or SIGTERM if a test forgets.

import { chmod, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDeployUser } from "./fleet/deploy-user.js";
import { claimDir, FLEET_DIR_PREFIX, reapOrphanFleets, releaseDir } from "./fleet/fleet-cleanup.js";
import { planFleet, type HostRole, type PlannedHost, type SpecialHosts } from "./fleet/fleet-plan.js";
import { pickFleetPort } from "./fleet/fleet-port.js";
import { ensureFleetTools, type FleetTools } from "./fleet/fleet-tools.js";
import { fleetPaths, writeClientKey, writeHostFiles, writeKnownHosts, writeSshdConfig, type HostFiles } from "./fleet/host-files.js";
import { HostSshd, PortInUseError } from "./fleet/host-sshd.js";
import { runSsh, sshArgs, type ExecOptions, type ExecResult, type SshIdentity } from "./fleet/ssh-client.js";
import { Tarpit } from "./fleet/tarpit.js";

export type { ExecOptions, ExecResult } from "./fleet/ssh-client.js";
export type { SpecialHosts } from "./fleet/fleet-plan.js";
export { NOISE, NOISY_UMASK } from "./fleet/noisy-home.js";

export interface FleetOptions {
  /** Normal hosts web01, web02, ...: 0 to 200. */
  readonly hosts: number;
  readonly special?: SpecialHosts;
  /** sshd's MaxStartups (default "100:30:200"). */
  readonly maxStartups?: string;
}

/** Where a client connects to reach a host. */
export interface FleetEndpoint {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

export interface FleetHost extends FleetEndpoint {
  /** This host's /srv as seen from the machine running the tests, for assertions and setup. */
  readonly srv: string;
}

export interface Fleet {
  /** The fleet's temp dir. */
  readonly dir: string;
  /** The port every host listens on (each on its own address). */
  readonly port: number;
  /** The normal hosts, web01 first. */
  readonly hosts: readonly FleetHost[];
  readonly tarpit: FleetEndpoint | null;
  /** Has /srv/HANG: the engine's tests configure its restart command to hang. */
  readonly hanging: FleetHost | null;
  readonly noisy: FleetHost | null;
  readonly wrongKey: FleetHost | null;
  /** The account deploys log in as; it owns /srv/deployment on every host. */
  readonly user: string;
  readonly privateKeyPath: string;
  readonly knownHostsPath: string;
  /** A host (normal or special) by name. */
  host(name: string): FleetEndpoint;
  /** OpenSSH client argv (without "ssh") up to the destination, for scripts that run ssh themselves. */
  sshArgs(host: string | FleetEndpoint): string[];
  /** Runs argv on the host with the OpenSSH client (each word quoted for the remote shell). */
  exec(host: string | FleetEndpoint, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Kills the host's sshd and every process it started; connections are then refused. */
  stopHost(name: string): Promise<void>;
  /** Starts a stopped host again with the same address, key and files. */
  startHost(name: string): Promise<void>;
  /** What the host's sshd logged (LogLevel ERROR), across restarts. */
  logs(name: string): string;
  /** Kills every host and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULT_MAX_STARTUPS = "100:30:200";
const PORT_ATTEMPTS = 3;
/** 200 sshds starting at once on 2 cores take a few seconds; allow for a slow, busy machine. */
const START_DEADLINE_MS = 60_000;

/** A running host of either kind: an sshd in its namespaces, or the tarpit. */
interface Member {
  start(deadline: number): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const plan = planFleet(opts.hosts, opts.special);
  const tools = await ensureFleetTools();
  await reapOrphanFleets();
  const user = await ensureDeployUser(tools.useradd);

  const dir = await mkdtemp(join(tmpdir(), FLEET_DIR_PREFIX));
  try {
    // The deploy user must reach authorized_keys: sshd reads it with the user's privileges.
    await chmod(dir, 0o755);
    await claimDir(dir);
    const paths = fleetPaths(dir);
    await writeClientKey(tools.sshKeygen, paths);
    const files = await Promise.all(plan.filter((h) => h.role !== "tarpit").map((h) => writeHostFiles(paths, h, user)));
    const maxStartups = opts.maxStartups ?? DEFAULT_MAX_STARTUPS;
    const settings = { user, maxStartups, sftpServer: tools.sftpServer, perSourcePenalties: tools.sshdHasPenalties };

    for (let attempt = 1; ; attempt++) {
      const port = await pickFleetPort(plan.map((h) => h.address));
      await Promise.all(files.map((f) => writeSshdConfig(paths, f, { ...settings, port })));
      await writeKnownHosts(paths, files, port);
      const members = new Map<string, Member>(plan.map((h) => [h.name, member(h, port, files, tools)]));
      const deadline = Date.now() + START_DEADLINE_MS;
      // All at once: the cost is CPU (~100 ms of exec and fork per host here), not waiting.
      const results = await Promise.allSettled([...members.values()].map((m) => m.start(deadline)));
      const failures = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
      if (failures.length === 0) {
        const identity = { ssh: tools.ssh, user: user.name, privateKeyPath: paths.privateKey, knownHostsPath: paths.knownHosts };
        return new RunningFleet(dir, port, plan, files, members, identity);
      }

      await Promise.all([...members.values()].map((m) => m.stop()));
      // Something else took the port on one address between pickFleetPort() and sshd binding it.
      if (failures.every((f) => f instanceof PortInUseError || isAddrInUse(f)) && attempt < PORT_ATTEMPTS) continue;
      throw new AggregateError(failures, `${failures.length} of ${members.size} fleet hosts failed to start: ${messageOf(failures[0])}`);
    }
  } catch (err) {
    await releaseDir(dir);
    throw err;
  }
}

function member(host: PlannedHost, port: number, files: readonly HostFiles[], tools: FleetTools): Member {
  if (host.role === "tarpit") return new Tarpit(host.address, port);
  const f = files.find((x) => x.host.name === host.name);
  if (!f) throw new Error(`no files were written for ${host.name}`);
  return new HostSshd({
    name: host.name,
    address: host.address,
    port,
    sshd: tools.sshd,
    unshare: tools.unshare,
    configPath: f.configPath,
    fstabPath: f.fstabPath,
    pidRecordPath: f.pidRecordPath,
  });
}

class RunningFleet implements Fleet {
  readonly hosts: readonly FleetHost[];
  readonly tarpit: FleetEndpoint | null;
  readonly hanging: FleetHost | null;
  readonly noisy: FleetHost | null;
  readonly wrongKey: FleetHost | null;
  readonly user: string;
  readonly privateKeyPath: string;
  readonly knownHostsPath: string;
  private readonly endpoints = new Map<string, FleetEndpoint>();
  private stopped: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    readonly port: number,
    plan: readonly PlannedHost[],
    files: readonly HostFiles[],
    private readonly members: ReadonlyMap<string, Member>,
    private readonly identity: SshIdentity,
  ) {
    this.user = identity.user;
    this.privateKeyPath = identity.privateKeyPath;
    this.knownHostsPath = identity.knownHostsPath;
    const endpoint = (h: PlannedHost): FleetEndpoint => ({ name: h.name, address: h.address, port });
    const withSrv = (h: PlannedHost): FleetHost => {
      const srv = files.find((f) => f.host.name === h.name)?.srvDir;
      if (srv === undefined) throw new Error(`no files were written for ${h.name}`);
      return { ...endpoint(h), srv };
    };
    const first = (role: HostRole): PlannedHost | undefined => plan.find((h) => h.role === role);
    const special = (role: HostRole): FleetHost | null => {
      const h = first(role);
      return h ? withSrv(h) : null;
    };
    this.hosts = plan.filter((h) => h.role === "normal").map(withSrv);
    this.hanging = special("hanging");
    this.noisy = special("noisy");
    this.wrongKey = special("wrongKey");
    const tarpit = first("tarpit");
    this.tarpit = tarpit ? endpoint(tarpit) : null;
    for (const h of [...this.hosts, this.tarpit, this.hanging, this.noisy, this.wrongKey]) if (h) this.endpoints.set(h.name, h);
  }

  host(name: string): FleetEndpoint {
    const endpoint = this.endpoints.get(name);
    if (!endpoint) throw new Error(`no host "${name}" in this fleet (hosts: ${[...this.endpoints.keys()].join(", ")})`);
    return endpoint;
  }

  sshArgs(host: string | FleetEndpoint): string[] {
    return sshArgs(this.identity, typeof host === "string" ? this.host(host) : host);
  }

  exec(host: string | FleetEndpoint, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return runSsh(this.identity, typeof host === "string" ? this.host(host) : host, argv, opts);
  }

  stopHost(name: string): Promise<void> {
    return this.member(name).stop();
  }

  startHost(name: string): Promise<void> {
    return this.member(name).start(Date.now() + START_DEADLINE_MS);
  }

  logs(name: string): string {
    return this.member(name).logs();
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const results = await Promise.allSettled([...this.members.values()].map((m) => m.stop()));
      await releaseDir(this.dir);
      const failures = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
      if (failures.length > 0) throw new AggregateError(failures, `stopping the fleet in ${this.dir}: ${messageOf(failures[0])}`);
    })();
    return this.stopped;
  }

  private member(name: string): Member {
    const m = this.members.get(name);
    if (!m) throw new Error(`no host "${name}" in this fleet`);
    if (this.stopped) throw new Error(`the fleet in ${this.dir} was stopped`);
    return m;
  }
}

function isAddrInUse(err: unknown): boolean {
  return err instanceof Error && "code" in err && err.code === "EADDRINUSE";
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
