// Keeps the bot connected to its fleet: every host an app targets is connected when the bot starts,
// and again every `everyMs` if its connection is gone (a host rebooted, a network blip, sshd
// restarted). A deploy then runs over open connections from its first step: a new SSH connection costs
// a host ~100 ms of CPU (bench/README.md, fleet-deploy run 12), a third of a warm deploy's cost. The
// terminal commands (`tugboat deploy`) never start this: they connect for their one operation.
//
// Nothing here fails the bot: a host that cannot be reached is logged when it starts or stops
// failing (not on every sweep), and a deploy reports it as it always did (its census).

import type { Logger } from "pino";
import { compressHosts } from "../chat/format.js";
import { HostFailure, type Host, type RemoteShell } from "./remote-shell.js";

export interface FleetConnectionsDeps {
  readonly shell: RemoteShell;
  /** The hosts to keep connected (every host some app targets), read on each sweep. */
  readonly hosts: () => readonly Host[];
  readonly log: Logger;
  /** How often hosts without a connection are connected again; 0: only at start. */
  readonly everyMs: number;
}

export interface SweepReport {
  readonly hosts: number;
  readonly connected: number;
  /** Hosts that could not be connected, with the reason (unreachable, timed out, host key, login). */
  readonly failed: ReadonlyArray<{ readonly host: string; readonly kind: string; readonly message: string }>;
}

export class FleetConnections {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<SweepReport> | null = null;
  private stopped = false;
  /** Hosts whose last attempt failed, with its message: logged again only when that changes. */
  private readonly failing = new Map<string, string>();

  constructor(private readonly d: FleetConnectionsDeps) {}

  /** Connects every host (in the background: the bot does not wait for its fleet) and starts the sweeps. */
  start(): Promise<SweepReport> {
    const first = this.sweep();
    if (this.d.everyMs > 0) {
      this.timer = setInterval(() => void this.sweep(), this.d.everyMs);
      this.timer.unref();
    }
    return first;
  }

  /** One pass: connects each host without an open connection; one pass at a time. */
  sweep(): Promise<SweepReport> {
    if (this.stopped) return Promise.resolve({ hosts: 0, connected: 0, failed: [] });
    this.running ??= this.pass().finally(() => (this.running = null));
    return this.running;
  }

  private async pass(): Promise<SweepReport> {
    const hosts = unique(this.d.hosts());
    const results = await Promise.all(
      hosts.map(async (host) => {
        try {
          await this.d.shell.connect(host);
          return null;
        } catch (e) {
          if (!(e instanceof HostFailure)) throw e;
          return { host: host.name, kind: e.kind, message: e.message.replace(`${host.name}: `, "") };
        }
      }),
    );
    const failed = results.filter((r): r is NonNullable<typeof r> => r !== null);
    const report: SweepReport = { hosts: hosts.length, connected: hosts.length - failed.length, failed };
    if (!this.stopped) this.logChanges(hosts, failed);
    return report;
  }

  private logChanges(hosts: readonly Host[], failed: SweepReport["failed"]): void {
    const now = new Map(failed.map((f) => [f.host, f.message]));
    const newly = failed.filter((f) => this.failing.get(f.host) !== f.message);
    const recovered = [...this.failing.keys()].filter((h) => !now.has(h) && hosts.some((x) => x.name === h));
    this.failing.clear();
    for (const [h, m] of now) this.failing.set(h, m);
    if (newly.length) this.d.log.warn({ failed: newly }, `cannot connect to ${compressHosts(newly.map((f) => f.host))} (of ${hosts.length} hosts); deploys leave them out until they answer`);
    if (recovered.length) this.d.log.info({ hosts: recovered }, `connected again to ${compressHosts(recovered)}`);
  }

  /**
   * Stops the sweeps. A pass still waiting for handshakes is not awaited: closing the shell, next in
   * a shutdown, ends them (a host that never answers would hold the shutdown for its whole timeout).
   */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** A host several apps target is connected once (host names are unique in the config). */
function unique(hosts: readonly Host[]): Host[] {
  return [...new Map(hosts.map((h) => [h.name, h])).values()];
}
