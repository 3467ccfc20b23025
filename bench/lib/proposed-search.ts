// The search SQL this benchmark proposes for SqliteSalStore.search (src/ is not changed here): the same
// results, with the filters handed to FTS5 instead of checked row by row after the join.
//  - cursor: `f.rowid < @cursor` (FTS5 seeks to it) instead of `e.id < @cursor` (it is not pushed
//    through the join, so every newer match is read and thrown away);
//  - before: also `f.rowid <= (last id written before that day)`, found on the entries_time index
//    (ids and times grow together: the store stamps the time inside the append transaction);
//  - nick with words: also `nick:"NICK"` inside the MATCH, so FTS5 intersects with the nick's (short)
//    doclist; the exact `e.nick = @nick COLLATE NOCASE` check stays;
//  - prefix words: "vocab" expands `word*` into the few real terms with that prefix (an fts5vocab
//    table) and ORs them, which FTS5 streams newest-first; a `"word"*` query instead merges the whole
//    doclist of every matching term before the first row. "exact" drops prefix matching altogether.

import type Database from "better-sqlite3";
import { decodeCursor, endOfDay, searchWords, type SalQuery } from "../../src/sal/store.js";

export type PrefixMode = "prefix" | "vocab" | "exact";
/** Past this many terms a prefix is left to FTS5 as `"word"*`. */
const MAX_EXPANSION = 32;

const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;

/** unicode61 with remove_diacritics folds case and strips accents: vocab terms are stored that way. */
const fold = (w: string) => w.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();

export function createVocab(db: Database.Database): Database.Statement {
  db.exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.entries_fts_vocab USING fts5vocab(main, entries_fts, row)");
  return db.prepare(`SELECT term FROM temp.entries_fts_vocab WHERE term >= @lo AND term < @hi LIMIT ${MAX_EXPANSION + 1}`);
}

function wordExpr(word: string, mode: PrefixMode, vocab: Database.Statement | null): string {
  if (mode === "exact") return quote(word);
  if (mode === "vocab" && vocab) {
    const lo = fold(word);
    const terms = (vocab.all({ lo, hi: `${lo}\u{10FFFF}` }) as Array<{ term: string }>).map((r) => r.term);
    if (terms.length === 0) return quote(word); // matches nothing, as the prefix would
    if (terms.length <= MAX_EXPANSION) return terms.length === 1 ? quote(terms[0]!) : `(${terms.map(quote).join(" OR ")})`;
  }
  return `${quote(word)}*`;
}

export function proposedSql(query: SalQuery, mode: PrefixMode, vocab: Database.Statement | null): { sql: string; params: Record<string, string | number> } {
  const where: string[] = [];
  const params: Record<string, string | number> = { limit: query.limit + 1 };
  const words = query.q ? searchWords(query.q) : [];
  const fts = words.length > 0;
  if (fts) {
    let match = words.map((w) => wordExpr(w, mode, vocab)).join(" AND ");
    if (query.nick && /[\p{L}\p{N}]/u.test(query.nick)) match = `(${match}) AND nick:${quote(query.nick)}`;
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
  if (query.before) {
    where.push("e.time < @before");
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
  return { sql: `SELECT e.* FROM ${from} ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY ${order} LIMIT @limit`, params };
}

/** Runs the proposed search as the store would (prepared per call, one page of rows). */
export function proposedSearch(db: Database.Database, query: SalQuery, mode: PrefixMode, vocab: Database.Statement | null): Array<{ id: number }> {
  const { sql, params } = proposedSql(query, mode, vocab);
  return db.prepare(sql).all(params) as Array<{ id: number }>;
}
