// Deploys another process runs (`tugboat deploy` in a terminal, a second bot) followed through the
// journal they write: while the journal has a running deploy this process gets no live events for,
// its new step rows are read by rowid on a short interval and turned into the deploy events a live
// deploy sends. The journal is the only channel, so a deploy process that crashes still leaves a true
// record: its deploy stays marked running with a dead pid, and is reported finished as interrupted.

import type { Logger } from "pino";
import { GATE_HOST, type DeployEvent, type HostProblem } from "./events.js";
import type { DeployJournal, DeployRecord, StepRecord } from "./journal.js";
import type { FailureKind } from "./remote-shell.js";

/** What the translation needs to know of an app: which step is a host's last. */
export interface FollowedApp {
  readonly name: string;
  readonly hosts: number;
  readonly restart: boolean;
  readonly smoke: boolean;
}

const KINDS: ReadonlySet<string> = new Set<FailureKind>(["unreachable", "timeout", "hostkey", "auth", "failed", "protocol"]);

/**
 * One deploy's journal rows as deploy events, pure. The journal has no stage or "host done" rows:
 * a host is done when its last step (smoke, else restart, else promote) succeeds, and failed at its
 * first failed step; a second promote of a host in a deploy is its way back (the grid knows that).
 */
export class JournalEvents {
  private readonly promoted = new Set<string>();
  /** Hosts on their way back to the deploy's source (after their second promote). */
  private readonly back = new Set<string>();
  private readonly ms = new Map<string, number>();

  constructor(
    private readonly deploy: DeployRecord,
    private readonly app: FollowedApp,
  ) {}

  started(): DeployEvent {
    const d = this.deploy;
    return { type: "started", deployId: d.id, app: d.app, kind: d.kind, from: d.fromSha, to: d.toSha, hosts: this.app.hosts };
  }

  row(s: StepRecord): DeployEvent[] {
    const deployId = this.deploy.id;
    if (s.host === GATE_HOST) return [];
    const kind = (KINDS.has(s.outcome) ? s.outcome : "failed") as FailureKind;
    const problem = (): HostProblem => ({ host: s.host, kind, step: s.step, message: s.detail ?? `${s.step} ${s.outcome}` });
    if (s.step === "census") return s.outcome === "ok" ? [] : [{ type: "left-out", deployId, problems: [problem()] }];
    const ms = (this.ms.get(s.host) ?? 0) + s.ms;
    this.ms.set(s.host, ms);
    const ok = s.outcome === "ok";
    const events: DeployEvent[] = [{ type: "host-step", deployId, host: s.host, step: s.step, ok, ms: s.ms }];
    // A failed prune leaves the release in place and the host goes on.
    if (!ok && s.step !== "prune") events.push({ type: "host-done", deployId, host: s.host, ok: false, problem: problem(), ms });
    if (s.step === "promote" && ok) {
      if (this.deploy.kind === "deploy" && this.promoted.has(s.host)) this.back.add(s.host);
      this.promoted.add(s.host);
    }
    if (ok && !this.back.has(s.host) && s.step === this.lastStep()) events.push({ type: "host-done", deployId, host: s.host, ok: true, ms });
    return events;
  }

  finished(state: string, summary: string): DeployEvent {
    return { type: "finished", deployId: this.deploy.id, state, summary };
  }

  private lastStep(): string {
    if (this.deploy.kind === "deploy" && this.app.smoke) return "smoke";
    return this.app.restart ? "restart" : "promote";
  }
}

export interface JournalFollowerDeps {
  readonly journal: Pick<DeployJournal, "running" | "get" | "stepsAfter">;
  readonly apps: readonly FollowedApp[];
  /** Whether this process runs the deploy itself (and sends its live events already). */
  readonly owns: (deployId: number) => boolean;
  readonly emit: (e: DeployEvent) => void;
  readonly log: Logger;
  /** How often the journal is read while a followed deploy runs, and while none does. */
  readonly followMs?: number;
  readonly idleMs?: number;
}

interface Followed {
  readonly deploy: DeployRecord;
  readonly events: JournalEvents;
  rowid: number;
}

export class JournalFollower {
  private readonly followed = new Map<number, Followed>();
  /** Deploys shown as interrupted (their process died): the journal still says running. */
  private readonly ended = new Set<number>();
  private readonly apps: ReadonlyMap<string, FollowedApp>;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly d: JournalFollowerDeps) {
    this.apps = new Map(d.apps.map((a) => [a.name, a]));
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      try {
        this.poll();
      } catch (err) {
        this.d.log.warn({ err }, "reading the deploy journal for other processes' deploys failed");
      }
      this.schedule(this.followed.size ? (this.d.followMs ?? 250) : (this.d.idleMs ?? 1000));
    }, ms);
    this.timer.unref();
  }

  /** One look at the journal: new foreign deploys, their new rows, and their end. */
  poll(): void {
    for (const r of this.d.journal.running(null)) {
      const app = this.apps.get(r.app);
      if (!app || this.followed.has(r.id) || this.ended.has(r.id) || this.d.owns(r.id)) continue;
      const f: Followed = { deploy: r, events: new JournalEvents(r, app), rowid: 0 };
      this.followed.set(r.id, f);
      this.d.log.info({ deployId: r.id, app: r.app, pid: r.pid }, "following a deploy run by another process");
      this.d.emit(f.events.started());
    }
    for (const f of this.followed.values()) {
      // The state first: a deploy seen finished has all its rows written (finish flushes them first).
      const now = this.d.journal.get(f.deploy.id);
      const stale = now?.state === "running" && this.d.journal.running(f.deploy.app).some((d) => d.id === f.deploy.id && d.stale);
      for (const s of this.d.journal.stepsAfter(f.deploy.id, f.rowid)) {
        f.rowid = s.rowid;
        for (const e of f.events.row(s)) this.d.emit(e);
      }
      if (!now || now.state !== "running") {
        this.followed.delete(f.deploy.id);
        this.d.emit(f.events.finished(now?.state ?? "interrupted", now?.summary ?? "the deploy is no longer in the journal"));
      } else if (stale) {
        this.followed.delete(f.deploy.id);
        this.ended.add(f.deploy.id);
        this.d.emit(f.events.finished("interrupted", `interrupted: the process running it (pid ${f.deploy.pid}) stopped; unlock ${f.deploy.app} to clear it`));
      }
    }
  }
}
