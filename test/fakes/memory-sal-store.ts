// In-memory SalStore for fast unit tests; the SAL contract suite holds it to SqliteSalStore's behaviour.

import type { NewSalEntry, SalEntry } from "../../src/sal/entry.js";
import { decodeCursor, encodeCursor, endOfDay, searchWords, type AppendResult, type SalPage, type SalQuery, type SalStore } from "../../src/sal/store.js";

export class MemorySalStore implements SalStore {
  readonly entries: SalEntry[] = [];
  private readonly keys = new Map<string, SalEntry>();
  /** Drive method: make the next appends fail, as a full disk would. */
  failNext = 0;

  constructor(private readonly now: () => Date = () => new Date()) {}

  async append(e: NewSalEntry): Promise<AppendResult> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("disk I/O error");
    }
    const key = e.idempotencyKey ? `${e.identity ?? ""}\0${e.idempotencyKey}` : null;
    const existing = key ? this.keys.get(key) : undefined;
    if (existing) return { entry: existing, created: false };
    const { idempotencyKey: _ignored, ...fields } = e;
    const entry: SalEntry = { ...fields, id: this.entries.length + 1, time: this.now().toISOString() };
    this.entries.push(entry);
    if (key) this.keys.set(key, entry);
    return { entry, created: true };
  }

  async after(id: number, limit: number): Promise<SalEntry[]> {
    return this.entries.filter((e) => e.id > id).slice(0, limit);
  }

  async lastId(): Promise<number> {
    return this.entries.length;
  }

  async get(id: number): Promise<SalEntry | null> {
    return this.entries[id - 1] ?? null;
  }

  async search(query: SalQuery): Promise<SalPage> {
    const words = query.q ? searchWords(query.q).map((w) => w.toLowerCase()) : [];
    const cursor = query.cursor ? decodeCursor(query.cursor) : null;
    const before = query.before ? endOfDay(query.before) : null;
    const matches = (e: SalEntry): boolean => {
      if (cursor !== null && e.id >= cursor) return false;
      if (query.nick && e.nick.toLowerCase() !== query.nick.toLowerCase()) return false;
      if (query.project && e.project !== query.project) return false;
      if (query.deployId !== undefined && e.deployId !== query.deployId) return false;
      if (before && e.time >= before) return false;
      const tokens = searchWords(`${e.message} ${e.nick}`).map((t) => t.toLowerCase());
      return words.every((w) => tokens.some((t) => t.startsWith(w)));
    };
    const found = [...this.entries].reverse().filter(matches).slice(0, query.limit + 1);
    const entries = found.slice(0, query.limit);
    const last = entries.at(-1);
    return { entries, nextCursor: found.length > query.limit && last ? encodeCursor(last.id) : null };
  }

  async count(): Promise<number> {
    return this.entries.length;
  }

  async close(): Promise<void> {}
}
