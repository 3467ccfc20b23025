// The durable alert store (SQLite, WAL, synchronous=FULL, in the data directory): every notification a
// receiver accepted is written before the HTTP answer (nothing acknowledged is lost), with the current
// state of each alert, what was last announced per group (deduplication survives restarts), and the
// alerts that followed each deploy. Announcements are derived from it by the AlertAnnouncer.

import Database from "better-sqlite3";
import type { Alert, AlertNotification, AlertStatus } from "./notification.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS notifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, receiver TEXT NOT NULL, group_key TEXT NOT NULL,
  status TEXT NOT NULL, body TEXT NOT NULL, processed_at TEXT
);
CREATE INDEX IF NOT EXISTS notifications_pending ON notifications(id) WHERE processed_at IS NULL;
CREATE TABLE IF NOT EXISTS alerts (
  receiver TEXT NOT NULL, fingerprint TEXT NOT NULL, group_key TEXT NOT NULL, status TEXT NOT NULL, alertname TEXT NOT NULL,
  labels TEXT NOT NULL, annotations TEXT NOT NULL, starts_at TEXT NOT NULL, ends_at TEXT, generator_url TEXT, updated_at TEXT NOT NULL,
  PRIMARY KEY (receiver, fingerprint)
);
CREATE INDEX IF NOT EXISTS alerts_status ON alerts(status);
CREATE TABLE IF NOT EXISTS announced_groups (
  receiver TEXT NOT NULL, group_key TEXT NOT NULL, status TEXT NOT NULL, fingerprints TEXT NOT NULL, at TEXT NOT NULL,
  PRIMARY KEY (receiver, group_key)
);
CREATE TABLE IF NOT EXISTS used_signatures (
  receiver TEXT NOT NULL, signature TEXT NOT NULL, until TEXT NOT NULL, PRIMARY KEY (receiver, signature)
);
CREATE TABLE IF NOT EXISTS deploy_alerts (
  deploy_id INTEGER NOT NULL, fingerprint TEXT NOT NULL, alertname TEXT NOT NULL, instance TEXT,
  severity TEXT, summary TEXT, starts_at TEXT NOT NULL, minutes_after INTEGER NOT NULL,
  PRIMARY KEY (deploy_id, fingerprint)
);
`;

export interface StoredNotification {
  readonly id: number;
  readonly receivedAt: string;
  readonly notification: AlertNotification;
}

export interface AnnouncedGroup {
  readonly status: AlertStatus;
  /** Sorted fingerprints of the firing alerts last announced. */
  readonly fingerprints: string;
  readonly at: string;
}

export interface CurrentAlert extends Alert {
  readonly receiver: string;
  readonly groupKey: string;
}

export interface DeployAlert {
  readonly deployId: number;
  readonly fingerprint: string;
  readonly alertname: string;
  readonly instance: string | null;
  readonly severity: string | null;
  readonly summary: string | null;
  readonly startsAt: string;
  readonly minutesAfter: number;
}

type Row = Record<string, unknown>;

/** A signed request whose signature was used before. */
export class ReplayError extends Error {
  override readonly name = "ReplayError";
  constructor() {
    super("this signature was used before (a replayed request?): sign every request anew");
  }
}

export class SqliteAlertStore {
  private readonly db: Database.Database;

  constructor(file: string, private readonly now: () => Date) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
  }

  /**
   * Writes the notifications and the alerts' new state in one transaction; durable when it returns.
   * With `once`, a signed request's signature is claimed in the same transaction: a second request
   * with it (a replay) stores nothing and throws ReplayError. Claims are kept until they expire.
   */
  record(notifications: readonly AlertNotification[], once?: { readonly receiver: string; readonly signature: string; readonly until: Date }): number[] {
    const at = this.now().toISOString();
    const claim = once ? this.db.prepare("INSERT OR IGNORE INTO used_signatures (receiver, signature, until) VALUES (?, ?, ?)") : null;
    const insert = this.db.prepare("INSERT INTO notifications (received_at, receiver, group_key, status, body) VALUES (?, ?, ?, ?, ?)");
    const upsert = this.db.prepare(`INSERT INTO alerts (receiver, fingerprint, group_key, status, alertname, labels, annotations, starts_at, ends_at, generator_url, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(receiver, fingerprint) DO UPDATE SET group_key = excluded.group_key, status = excluded.status,
      alertname = excluded.alertname, labels = excluded.labels, annotations = excluded.annotations, starts_at = excluded.starts_at, ends_at = excluded.ends_at,
      generator_url = excluded.generator_url, updated_at = excluded.updated_at`);
    return this.db.transaction(() => {
      if (once && claim) {
        this.db.prepare("DELETE FROM used_signatures WHERE until < ?").run(at);
        if (claim.run(once.receiver, once.signature, once.until.toISOString()).changes === 0) throw new ReplayError();
      }
      return notifications.map((n) => {
        for (const a of n.alerts) {
          upsert.run(n.receiver, a.fingerprint, n.groupKey, a.status, a.labels.alertname ?? "", JSON.stringify(a.labels), JSON.stringify(a.annotations), a.startsAt, a.endsAt, a.generatorURL, at);
        }
        return Number(insert.run(at, n.receiver, n.groupKey, n.status, JSON.stringify(n)).lastInsertRowid);
      });
    })();
  }

  /** Notifications not yet turned into announcements, oldest first. */
  pending(limit = 10_000): StoredNotification[] {
    return (this.db.prepare("SELECT id, received_at, body FROM notifications WHERE processed_at IS NULL ORDER BY id LIMIT ?").all(limit) as Row[]).map((r) => ({
      id: r.id as number, receivedAt: r.received_at as string, notification: JSON.parse(r.body as string) as AlertNotification,
    }));
  }

  announced(receiver: string, groupKey: string): AnnouncedGroup | null {
    const r = this.db.prepare("SELECT status, fingerprints, at FROM announced_groups WHERE receiver = ? AND group_key = ?").get(receiver, groupKey) as Row | undefined;
    return r ? { status: r.status as AlertStatus, fingerprints: r.fingerprints as string, at: r.at as string } : null;
  }

  /** Marks notifications processed and records what was announced per group, in one transaction. */
  settle(ids: readonly number[], groups: ReadonlyArray<{ receiver: string; groupKey: string; status: AlertStatus; fingerprints: string }>, deployAlerts: readonly DeployAlert[] = []): void {
    const at = this.now().toISOString();
    const mark = this.db.prepare("UPDATE notifications SET processed_at = ? WHERE id = ?");
    const group = this.db.prepare("INSERT INTO announced_groups (receiver, group_key, status, fingerprints, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(receiver, group_key) DO UPDATE SET status = excluded.status, fingerprints = excluded.fingerprints, at = excluded.at");
    const link = this.db.prepare("INSERT OR IGNORE INTO deploy_alerts (deploy_id, fingerprint, alertname, instance, severity, summary, starts_at, minutes_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    this.db.transaction(() => {
      for (const id of ids) mark.run(at, id);
      for (const g of groups) group.run(g.receiver, g.groupKey, g.status, g.fingerprints, at);
      for (const d of deployAlerts) link.run(d.deployId, d.fingerprint, d.alertname, d.instance, d.severity, d.summary, d.startsAt, d.minutesAfter);
    })();
  }

  /** Alerts whose latest state is firing, newest first. */
  firing(): CurrentAlert[] {
    return (this.db.prepare("SELECT * FROM alerts WHERE status = 'firing' ORDER BY starts_at DESC").all() as Row[]).map((r) => ({
      receiver: r.receiver as string, groupKey: r.group_key as string, status: "firing", fingerprint: r.fingerprint as string,
      labels: JSON.parse(r.labels as string) as Record<string, string>, annotations: JSON.parse(r.annotations as string) as Record<string, string>,
      startsAt: r.starts_at as string, endsAt: r.ends_at as string | null, generatorURL: r.generator_url as string | null,
    }));
  }

  deployAlerts(deployId: number): DeployAlert[] {
    return (this.db.prepare("SELECT * FROM deploy_alerts WHERE deploy_id = ? ORDER BY starts_at").all(deployId) as Row[]).map((r) => ({
      deployId: r.deploy_id as number, fingerprint: r.fingerprint as string, alertname: r.alertname as string, instance: r.instance as string | null,
      severity: r.severity as string | null, summary: r.summary as string | null, startsAt: r.starts_at as string, minutesAfter: r.minutes_after as number,
    }));
  }

  count(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM notifications").get() as { n: number }).n;
  }

  close(): void {
    this.db.close();
  }
}
