// SalStore on SQLite (better-sqlite3): WAL, synchronous=FULL so an append is durable when it returns,
// triggers that forbid UPDATE and DELETE, and an FTS5 index over message and nick. Appends are
// group-committed: those of one turn of the event loop share one transaction (one fsync), each in its
// own savepoint, so one that fails is refused alone and the others are still written; every caller is
// answered after the commit that holds its entry.

import { join } from "node:path";
import Database from "better-sqlite3";
import type { NewSalEntry, SalEntry, SalSource } from "./entry.js";
import { decodeCursor, encodeCursor, endOfDay, searchWords, type AppendResult, type SalPage, type SalQuery, type SalStore } from "./store.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time TEXT NOT NULL,
  nick TEXT NOT NULL,
  account TEXT,
  mask TEXT,
  channel TEXT,
  project TEXT,
  message TEXT NOT NULL,
  source TEXT NOT NULL,
  identity TEXT,
  deploy_id INTEGER,
  task TEXT,
  idempotency_key TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS entries_idem ON entries(identity, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_nick ON entries(nick COLLATE NOCASE, id);
CREATE INDEX IF NOT EXISTS entries_project ON entries(project, id);
CREATE INDEX IF NOT EXISTS entries_time ON entries(time);
CREATE INDEX IF NOT EXISTS entries_deploy ON entries(deploy_id) WHERE deploy_id IS NOT NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5(
  message, nick, content='entries', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS entries_ai AFTER INSERT ON entries BEGIN
  INSERT INTO entries_fts(rowid, message, nick) VALUES (new.id, new.message, new.nick);
END;
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries BEGIN
  SELECT RAISE(ABORT, 'the SAL is append-only');
END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries BEGIN
  SELECT RAISE(ABORT, 'the SAL is append-only');
END;
`;

interface Row {
  id: number;
  time: string;
  nick: string;
  account: string | null;
  mask: string | null;
  channel: string | null;
  project: string | null;
  message: string;
  source: string;
  identity: string | null;
  deploy_id: number | null;
  task: string | null;
}

const ftsQuote = (s: string) => `"${s.replaceAll('"', '""')}"`;

function toEntry(r: Row): SalEntry {
  return {
    id: r.id,
    time: r.time,
    nick: r.nick,
    account: r.account,
    mask: r.mask,
    channel: r.channel,
    project: r.project,
    message: r.message,
    source: r.source as SalSource,
    identity: r.identity,
    deployId: r.deploy_id,
    task: r.task,
  };
}

/** The SAL of a data directory: the bot and `tugboat deploy` in a terminal write the same file. */
export const salFile = (dataDir: string) => join(dataDir, "sal.sqlite3");

interface PendingAppend {
  readonly entry: NewSalEntry;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: unknown) => void;
}

export class SqliteSalStore implements SalStore {
  private readonly db: Database.Database;
  private pending: PendingAppend[] = [];
  private flushTimer: NodeJS.Immediate | undefined;
  /** Transactions committed by append, and the entries they carried (tests, benchmarks). */
  readonly commits = { transactions: 0, appends: 0 };
  private readonly insert: Database.Statement;
  private readonly byKey: Database.Statement;
  private readonly byId: Database.Statement;
  private readonly lastTime: Database.Statement;
  private readonly afterStmt: Database.Statement;
  /** One append; called inside a batch's transaction, a better-sqlite3 transaction function is a savepoint. */
  private readonly appendOne: (e: NewSalEntry) => AppendResult;
  /** Search statements by SQL text (a handful of filter combinations). */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    file: string,
    private readonly now: () => Date,
  ) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    // FULL: the WAL is synced at every commit, so an acknowledged entry survives a power cut.
    this.db.pragma("synchronous = FULL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
    this.insert = this.db.prepare(
      `INSERT INTO entries (time, nick, account, mask, channel, project, message, source, identity, deploy_id, task, idempotency_key)
       VALUES (@time, @nick, @account, @mask, @channel, @project, @message, @source, @identity, @deployId, @task, @idempotencyKey)`,
    );
    this.byKey = this.db.prepare("SELECT * FROM entries WHERE identity IS ? AND idempotency_key = ?");
    this.byId = this.db.prepare("SELECT * FROM entries WHERE id = ?");
    this.lastTime = this.db.prepare("SELECT time FROM entries ORDER BY id DESC LIMIT 1");
    this.afterStmt = this.db.prepare("SELECT * FROM entries WHERE id > ? ORDER BY id LIMIT ?");
    this.appendOne = this.db.transaction(this.appendTx);
  }

  private readonly appendTx = (e: NewSalEntry): AppendResult => {
    const key = e.idempotencyKey ?? null;
    if (key !== null) {
      const existing = this.byKey.get(e.identity, key) as Row | undefined;
      if (existing) return { entry: toEntry(existing), created: false };
    }
    // Never earlier than the last entry, even if the clock steps back: ids and times then grow together.
    const now = this.now().toISOString();
    const last = (this.lastTime.get() as { time: string } | undefined)?.time;
    const time = last !== undefined && last > now ? last : now;
    const info = this.insert.run({ ...e, time, idempotencyKey: key });
    const row = this.byId.get(info.lastInsertRowid) as Row;
    return { entry: toEntry(row), created: true };
  };

  append(e: NewSalEntry): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entry: e, resolve, reject });
      this.flushTimer ??= setImmediate(() => this.flush());
    });
  }

  /** Commits the appends of this turn of the event loop in one transaction, then answers each. */
  private flush(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    let outcomes: Array<{ ok: true; r: AppendResult } | { ok: false; e: unknown }>;
    try {
      outcomes = this.db.transaction(() =>
        batch.map((p) => {
          try {
            return { ok: true as const, r: this.appendOne(p.entry) };
          } catch (e) {
            // An error that ended the transaction itself (I/O, a full disk) fails the whole batch.
            if (!this.db.inTransaction) throw e;
            return { ok: false as const, e };
          }
        }),
      ).immediate();
    } catch (e) {
      for (const p of batch) p.reject(e);
      return;
    }
    this.commits.transactions++;
    this.commits.appends += outcomes.filter((o) => o.ok).length;
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o.ok) p.resolve(o.r);
      else p.reject(o.e);
    });
  }

  async get(id: number): Promise<SalEntry | null> {
    const row = this.byId.get(id) as Row | undefined;
    return row ? toEntry(row) : null;
  }

  async search(query: SalQuery): Promise<SalPage> {
    const where: string[] = [];
    const params: Record<string, string | number> = { limit: query.limit + 1 };
    const words = query.q ? searchWords(query.q) : [];
    const fts = words.length > 0;
    // With words, every filter that can be is handed to FTS5 (which walks its matches newest first)
    // rather than checked row by row after the join: see bench/README.md, search-1m.
    if (fts) {
      // Each word quoted (so FTS operators in user text are literal) and prefix-matched.
      let match = words.map((w) => `${ftsQuote(w)}*`).join(" AND ");
      if (query.nick && /[\p{L}\p{N}]/u.test(query.nick)) match = `(${match}) AND nick:${ftsQuote(query.nick)}`;
      params.match = match;
      where.push("entries_fts MATCH @match");
    }
    if (query.nick) {
      where.push("e.nick = @nick COLLATE NOCASE");
      params.nick = query.nick;
    }
    if (query.project) {
      where.push("e.project = @project");
      params.project = query.project;
    }
    if (query.deployId !== undefined) {
      where.push("e.deploy_id = @deployId");
      params.deployId = query.deployId;
    }
    if (query.before) {
      where.push("e.time < @before");
      // Ids grow with time (append stamps max(now, last time)), so the day bound is also an id bound.
      if (fts) where.push("f.rowid <= (SELECT id FROM entries WHERE time < @before ORDER BY time DESC LIMIT 1)");
      params.before = endOfDay(query.before);
    }
    const cursor = query.cursor ? decodeCursor(query.cursor) : null;
    if (cursor !== null) {
      where.push(fts ? "f.rowid < @cursor" : "e.id < @cursor");
      params.cursor = cursor;
    }
    const from = fts ? "entries_fts f JOIN entries e ON e.id = f.rowid" : "entries e";
    const order = fts ? "f.rowid DESC" : "e.id DESC";
    const sql = `SELECT e.* FROM ${from} ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY ${order} LIMIT @limit`;
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    const rows = statement.all(params) as Row[];
    const more = rows.length > query.limit;
    const entries = rows.slice(0, query.limit).map(toEntry);
    const last = entries.at(-1);
    return { entries, nextCursor: more && last ? encodeCursor(last.id) : null };
  }

  async after(id: number, limit: number): Promise<SalEntry[]> {
    return (this.afterStmt.all(id, limit) as Row[]).map(toEntry);
  }

  async lastId(): Promise<number> {
    return (this.db.prepare("SELECT coalesce(max(id), 0) AS id FROM entries").get() as { id: number }).id;
  }

  async count(): Promise<number> {
    return (this.db.prepare("SELECT count(*) AS n FROM entries").get() as { n: number }).n;
  }

  async close(): Promise<void> {
    this.flush();
    this.db.close();
  }
}
