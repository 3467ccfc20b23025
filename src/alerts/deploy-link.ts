// Ties an alert to the deploy that probably caused it: the most recent deploy that started before the
// alert and ended (or is still running) at most `windowSec` before it, on whose hosts the alert is, or
// whose app's configured labels the alert carries. Reads the deploy journal through its public
// queries only (its schema belongs to src/fleet/journal.ts).

import type { DeployRecord, StepRecord } from "../fleet/journal.js";
import { instanceOf } from "./alert-format.js";
import type { Alert } from "./notification.js";

/** What the journal offers (DeployJournal satisfies it). */
export interface DeployHistory {
  list(app: string | null, limit: number): DeployRecord[];
  steps(deployId: number): StepRecord[];
}

export interface DeployMatch {
  readonly deploy: DeployRecord;
  /** Whole minutes from the deploy's end to the alert's start; null while the deploy was still running. */
  readonly minutesAfter: number | null;
}

export class DeployLinker {
  /** Host lists of finished deploys never change: kept. */
  private readonly hostsOf = new Map<number, ReadonlySet<string>>();

  constructor(
    private readonly history: DeployHistory,
    private readonly windowSec: number,
    private readonly appLabels: Readonly<Record<string, Readonly<Record<string, string>>>>,
    /** Fleet addresses to host names, for alerts whose instance is an address (10.64.0.11:9100). */
    private readonly addresses: Readonly<Record<string, string>> = {},
  ) {}

  private hosts(d: DeployRecord): ReadonlySet<string> {
    const known = this.hostsOf.get(d.id);
    if (known) return known;
    const hosts = new Set(this.history.steps(d.id).map((s) => s.host));
    if (d.finishedAt) this.hostsOf.set(d.id, hosts);
    return hosts;
  }

  match(alert: Pick<Alert, "labels" | "startsAt">): DeployMatch | null {
    const start = Date.parse(alert.startsAt);
    const instance = instanceOf(alert);
    const host = instance === null ? null : (this.addresses[instance] ?? instance);
    for (const d of this.history.list(null, 100)) {
      const began = Date.parse(d.startedAt);
      const ended = d.finishedAt ? Date.parse(d.finishedAt) : null;
      if (began > start) continue;
      if (ended !== null && start - ended > this.windowSec * 1000) continue;
      const labels = this.appLabels[d.app];
      const byLabels = labels !== undefined && Object.keys(labels).length > 0 && Object.entries(labels).every(([k, v]) => alert.labels[k] === v);
      const byHost = host !== null && (this.hosts(d).has(host) || [...this.hosts(d)].some((h) => host.split(".")[0] === h));
      if (!byLabels && !byHost) continue;
      return { deploy: d, minutesAfter: ended === null || start < ended ? null : Math.floor((start - ended) / 60_000) };
    }
    return null;
  }
}

const short = (sha: string | null) => (sha ? sha.slice(0, 7) : "?");

/** `(started 3m after deploy #42 of api by NICK: abc1234..def5678; !rollback api?)` */
export function deployNote(m: DeployMatch): string {
  const d = m.deploy;
  const when = m.minutesAfter === null ? "during" : `${m.minutesAfter}m after`;
  return `(started ${when} ${d.kind === "rollback" ? "rollback" : "deploy"} #${d.id} of ${d.app} by ${d.nick}: ${short(d.fromSha)}..${short(d.toSha)}; !rollback ${d.app}?)`;
}
