// The deploy journal and locks, in SQLite: every deploy and every host's step result is written as it
// happens (a crash leaves a true record), the live revision per app is recorded only after success,
// and locks are durable with who, why and when. One deploy per app runs at a time; a running deploy
// whose process is gone is reported as stale (never silently taken over) until unlock clears it.

import Database from "better-sqlite3";

export type DeployKind = "deploy" | "rollback";
export type DeployState = "running" | "succeeded" | "failed" | "rolled-back" | "aborted" | "interrupted";

export interface DeployRecord {
  readonly id: number;
  readonly app: string;
  readonly kind: DeployKind;
  readonly ref: string | null;
  readonly fromSha: string | null;
  readonly toSha: string;
  readonly reason: string;
  readonly nick: string;
  readonly state: DeployState;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly summary: string | null;
  readonly pid: number;
}

export interface StepRecord {
  readonly deployId: number;
  readonly host: string;
  readonly step: string;
  readonly outcome: string;
  readonly ms: number;
  readonly detail: string | null;
  readonly at: string;
}

export interface LockRecord {
  readonly scope: string;
  readonly nick: string;
  readonly reason: string;
  readonly at: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS deploys (
  id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL, kind TEXT NOT NULL, ref TEXT, from_sha TEXT, to_sha TEXT NOT NULL,
  reason TEXT NOT NULL, nick TEXT NOT NULL, state TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, summary TEXT, pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deploys_app ON deploys(app, id);
CREATE TABLE IF NOT EXISTS host_steps (
  deploy_id INTEGER NOT NULL REFERENCES deploys(id), host TEXT NOT NULL, step TEXT NOT NULL, outcome TEXT NOT NULL,
  ms INTEGER NOT NULL, detail TEXT, at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS host_steps_deploy ON host_steps(deploy_id);
CREATE TABLE IF NOT EXISTS locks (
  scope TEXT PRIMARY KEY, nick TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS live (
  app TEXT PRIMARY KEY, sha TEXT NOT NULL, deploy_id INTEGER NOT NULL, at TEXT NOT NULL
);
`;

type Row = Record<string, unknown>;
const toDeploy = (r: Row): DeployRecord => ({
  id: r.id as number, app: r.app as string, kind: r.kind as DeployKind, ref: r.ref as string | null, fromSha: r.from_sha as string | null,
  toSha: r.to_sha as string, reason: r.reason as string, nick: r.nick as string, state: r.state as DeployState,
  startedAt: r.started_at as string, finishedAt: r.finished_at as string | null, summary: r.summary as string | null, pid: r.pid as number,
});
const toLock = (r: Row): LockRecord => ({ scope: r.scope as string, nick: r.nick as string, reason: r.reason as string, at: r.at as string });

export const GLOBAL_SCOPE = "*";

export type Blocker =
  | { readonly kind: "lock" | "freeze"; readonly lock: LockRecord }
  | { readonly kind: "running"; readonly deploy: DeployRecord; readonly stale: boolean };

export class DeployJournal {
  private readonly db: Database.Database;
  private pending: StepRecord[] = [];
  private flushTimer: NodeJS.Immediate | undefined;

  constructor(
    file: string,
    private readonly now: () => Date,
    /** Whether a process id is alive on this machine (injected so tests can play a dead holder). */
    private readonly alive: (pid: number) => boolean = processAlive,
    private readonly pid: number = process.pid,
  ) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
  }

  private stamp(): string {
    return this.now().toISOString();
  }

  /**
   * Records a host's step. Steps are group-committed: those of one turn of the event loop (fifty hosts
   * finishing together) share one transaction, written before the loop turns again, so the journal
   * costs one fsync per burst instead of one per host. Every read of the journal flushes first.
   */
  step(s: Omit<StepRecord, "at">): void {
    this.pending.push({ ...s, ms: Math.round(s.ms), at: this.stamp() });
    this.flushTimer ??= setImmediate(() => this.flush());
  }

  /** Writes the steps recorded so far (called by every read and by finish; scheduled by step). */
  flush(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const insert = this.db.prepare("INSERT INTO host_steps (deploy_id, host, step, outcome, ms, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    this.db.transaction(() => {
      for (const s of batch) insert.run(s.deployId, s.host, s.step, s.outcome, s.ms, s.detail, s.at);
    })();
  }

  finish(id: number, state: Exclude<DeployState, "running">, summary: string, live?: { app: string; sha: string }): void {
    this.flush();
    this.db.transaction(() => {
      this.db.prepare("UPDATE deploys SET state = ?, finished_at = ?, summary = ? WHERE id = ?").run(state, this.stamp(), summary, id);
      if (live) this.db.prepare("INSERT INTO live (app, sha, deploy_id, at) VALUES (?, ?, ?, ?) ON CONFLICT(app) DO UPDATE SET sha = excluded.sha, deploy_id = excluded.deploy_id, at = excluded.at").run(live.app, live.sha, id, this.stamp());
    })();
  }

  get(id: number): DeployRecord | null {
    const r = this.db.prepare("SELECT * FROM deploys WHERE id = ?").get(id) as Row | undefined;
    return r ? toDeploy(r) : null;
  }

  list(app: string | null, limit: number): DeployRecord[] {
    const rows = app ? this.db.prepare("SELECT * FROM deploys WHERE app = ? ORDER BY id DESC LIMIT ?").all(app, limit) : this.db.prepare("SELECT * FROM deploys ORDER BY id DESC LIMIT ?").all(limit);
    return (rows as Row[]).map(toDeploy);
  }

  steps(deployId: number): StepRecord[] {
    this.flush();
    return (this.db.prepare("SELECT * FROM host_steps WHERE deploy_id = ? ORDER BY rowid").all(deployId) as Row[]).map((r) => ({
      deployId: r.deploy_id as number, host: r.host as string, step: r.step as string, outcome: r.outcome as string, ms: r.ms as number, detail: r.detail as string | null, at: r.at as string,
    }));
  }

  /**
   * A deploy's step rows written after `afterRowid`, oldest first, with their rowids: how a process
   * follows a deploy another process runs (rows are only ever appended, so the rowid is a cursor).
   */
  stepsAfter(deployId: number, afterRowid: number): Array<StepRecord & { readonly rowid: number }> {
    this.flush();
    return (this.db.prepare("SELECT rowid, * FROM host_steps WHERE deploy_id = ? AND rowid > ? ORDER BY rowid").all(deployId, afterRowid) as Row[]).map((r) => ({
      rowid: r.rowid as number, deployId: r.deploy_id as number, host: r.host as string, step: r.step as string, outcome: r.outcome as string, ms: r.ms as number, detail: r.detail as string | null, at: r.at as string,
    }));
  }

  /** The revision the journal says is live (recorded only after a successful deploy or rollback). */
  live(app: string): { sha: string; deployId: number; at: string } | null {
    const r = this.db.prepare("SELECT sha, deploy_id, at FROM live WHERE app = ?").get(app) as Row | undefined;
    return r ? { sha: r.sha as string, deployId: r.deploy_id as number, at: r.at as string } : null;
  }

  locks(): LockRecord[] {
    return (this.db.prepare("SELECT * FROM locks ORDER BY scope").all() as Row[]).map(toLock);
  }

  /** Running deploys of an app (or all), each marked stale when its process is gone. */
  running(app: string | null): Array<DeployRecord & { stale: boolean }> {
    const rows = (app ? this.db.prepare("SELECT * FROM deploys WHERE state = 'running' AND app = ?").all(app) : this.db.prepare("SELECT * FROM deploys WHERE state = 'running'").all()) as Row[];
    return rows.map(toDeploy).map((d) => ({ ...d, stale: d.pid !== this.pid && !this.alive(d.pid) }));
  }

  /** What stops `nick` deploying app now: a lock by someone else, the global freeze, or a deploy in progress. */
  blocker(app: string, nick: string): Blocker | null {
    const lock = this.locks().find((l) => (l.scope === app || l.scope === GLOBAL_SCOPE) && l.nick !== nick);
    if (lock) return { kind: lock.scope === GLOBAL_SCOPE ? "freeze" : "lock", lock };
    const running = this.running(app)[0];
    if (running) return { kind: "running", deploy: running, stale: running.stale };
    return null;
  }

  /** Checks the blockers and records the deploy as running, in one transaction: one deploy per app. */
  begin(d: { app: string; kind: DeployKind; ref: string | null; fromSha: string | null; toSha: string; reason: string; nick: string }): { ok: true; deploy: DeployRecord } | { ok: false; blocker: Blocker } {
    return this.db.transaction(() => {
      const blocker = this.blocker(d.app, d.nick);
      if (blocker) return { ok: false as const, blocker };
      const info = this.db
        .prepare("INSERT INTO deploys (app, kind, ref, from_sha, to_sha, reason, nick, state, started_at, pid) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)")
        .run(d.app, d.kind, d.ref, d.fromSha, d.toSha, d.reason, d.nick, this.stamp(), this.pid);
      return { ok: true as const, deploy: this.get(Number(info.lastInsertRowid))! };
    }).immediate();
  }

  /** A person's lock on an app (or GLOBAL_SCOPE: a freeze). Refused while someone else holds it. */
  lock(scope: string, nick: string, reason: string): { ok: true } | { ok: false; lock: LockRecord } {
    return this.db.transaction(() => {
      const held = this.locks().find((l) => l.scope === scope);
      if (held && held.nick !== nick) return { ok: false as const, lock: held };
      this.db.prepare("INSERT INTO locks (scope, nick, reason, at) VALUES (?, ?, ?, ?) ON CONFLICT(scope) DO UPDATE SET nick = excluded.nick, reason = excluded.reason, at = excluded.at").run(scope, nick, reason, this.stamp());
      return { ok: true as const };
    }).immediate();
  }

  /**
   * Removes a person's lock; also clears a stale deploy of that app (its process is gone), marking it
   * interrupted. Returns what was cleared.
   */
  unlock(scope: string): { lock: LockRecord | null; interrupted: DeployRecord[] } {
    return this.db.transaction(() => {
      const lock = this.locks().find((l) => l.scope === scope) ?? null;
      this.db.prepare("DELETE FROM locks WHERE scope = ?").run(scope);
      const stale = this.running(scope === GLOBAL_SCOPE ? null : scope).filter((d) => d.stale);
      for (const d of stale) this.finish(d.id, "interrupted", "cleared by unlock: the deploy process had stopped");
      return { lock, interrupted: stale };
    }).immediate();
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
