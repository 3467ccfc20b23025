// The SalStore port: the append-only Server Admin Log, the single source of truth.
// Adapters: SqliteSalStore (production) and MemorySalStore (unit tests); one contract suite runs on both.

import type { NewSalEntry, SalEntry } from "./entry.js";

export interface SalQuery {
  /** Full-text words, all must match message or nick (prefix match). */
  readonly q?: string | undefined;
  /** Exact nick, case-insensitive. */
  readonly nick?: string | undefined;
  readonly project?: string | undefined;
  /** UTC day YYYY-MM-DD: entries on or before that day. */
  readonly before?: string | undefined;
  /** Only the entries linked to this deploy. */
  readonly deployId?: number | undefined;
  /** Opaque cursor from a previous page's nextCursor. */
  readonly cursor?: string | undefined;
  readonly limit: number;
}

export interface SalPage {
  readonly entries: SalEntry[];
  /** Pass as `cursor` to get the next (older) page; null on the last page. */
  readonly nextCursor: string | null;
}

export interface AppendResult {
  readonly entry: SalEntry;
  /** False when an entry with the same identity and idempotency key already existed. */
  readonly created: boolean;
}

export interface SalStore {
  /** Resolves only once the entry is durable (committed and synced). */
  append(entry: NewSalEntry): Promise<AppendResult>;
  get(id: number): Promise<SalEntry | null>;
  search(query: SalQuery): Promise<SalPage>;
  count(): Promise<number>;
  /** Entries with an id above `id`, oldest first, at most `limit` (following what other processes write). */
  after(id: number, limit: number): Promise<SalEntry[]>;
  /** The highest id written so far (0 when empty). */
  lastId(): Promise<number>;
  close(): Promise<void>;
}

/** Cursors are the id of the last entry shown; opaque to clients. */
export function encodeCursor(id: number): string {
  return Buffer.from(`id:${id}`).toString("base64url");
}

export function decodeCursor(cursor: string): number | null {
  const m = /^id:(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  return m?.[1] === undefined ? null : Number(m[1]);
}

/** The exclusive upper bound (ISO time) for "on or before DAY". */
export function endOfDay(day: string): string {
  const d = new Date(`${day}T00:00:00.000Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString();
}

/** Split a search string into plain words; FTS syntax in user text is never interpreted. */
export function searchWords(q: string): string[] {
  return q
    .normalize("NFKC")
    .split(/[^\p{L}\p{N}_]+/u)
    .filter((w) => w.length > 0)
    .slice(0, 16);
}
