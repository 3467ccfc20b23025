// The SalStore contract: the same assertions on the in-memory fake and on SQLite.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import type { NewSalEntry } from "../../src/sal/entry.js";
import { SqliteSalStore } from "../../src/sal/sqlite-store.js";
import type { AppendResult, SalStore } from "../../src/sal/store.js";
import { MemorySalStore } from "../fakes/memory-sal-store.js";

function entry(over: Partial<NewSalEntry> = {}): NewSalEntry {
  return {
    nick: "alice", account: null, mask: "alice!a@ops/alice", channel: "#operations", project: null,
    message: "restarted memcached on mc1004 (T1234)", source: "irc", identity: null, deployId: null, task: "T1234",
    ...over,
  };
}

type Factory = (now: () => Date) => { store: SalStore; cleanup(): void };
const factories: Record<string, Factory> = {
  memory: (now) => ({ store: new MemorySalStore(now), cleanup() {} }),
  sqlite: (now) => {
    const dir = mkdtempSync(join(tmpdir(), "sal-"));
    return { store: new SqliteSalStore(join(dir, "sal.db"), now), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  },
};

describe.each(Object.keys(factories))("SalStore contract: %s", (kind) => {
  let cleanup = () => {};
  let clock = new Date("2026-11-20T10:00:00.000Z");
  const make = () => {
    clock = new Date("2026-11-20T10:00:00.000Z");
    const made = factories[kind]!(() => clock);
    cleanup = made.cleanup;
    return made.store;
  };
  afterEach(() => cleanup());

  it("appends with increasing ids and the clock's UTC time, and reads back", async () => {
    const store = make();
    const a = await store.append(entry());
    clock = new Date("2026-11-20T10:00:01.500Z");
    const b = await store.append(entry({ nick: "bob", message: "second" }));
    expect(a.created).toBe(true);
    expect(b.entry.id).toBeGreaterThan(a.entry.id);
    expect(b.entry.time).toBe("2026-11-20T10:00:01.500Z");
    expect(await store.get(a.entry.id)).toEqual(a.entry);
    expect(await store.get(9999)).toBeNull();
    expect(await store.count()).toBe(2);
    await store.close();
  });

  it("lists the entries after an id, oldest first, and knows the last id", async () => {
    const store = make();
    expect(await store.lastId()).toBe(0);
    expect(await store.after(0, 10)).toEqual([]);
    const written = [];
    for (let i = 0; i < 5; i++) written.push((await store.append(entry({ message: `entry ${i}` }))).entry);
    expect(await store.lastId()).toBe(written[4]!.id);
    expect(await store.after(written[1]!.id, 2)).toEqual([written[2], written[3]]);
    expect(await store.after(written[4]!.id, 10)).toEqual([]);
    await store.close();
  });

  it("an idempotency key makes a retried append return the first entry", async () => {
    const store = make();
    const first = await store.append(entry({ identity: "cron@deploy1", idempotencyKey: "k1", source: "api" }));
    const again = await store.append(entry({ identity: "cron@deploy1", idempotencyKey: "k1", source: "api", message: "other" }));
    const otherIdentity = await store.append(entry({ identity: "cron@deploy2", idempotencyKey: "k1", source: "api" }));
    expect(again).toEqual({ entry: first.entry, created: false });
    expect(otherIdentity.created).toBe(true);
    expect(await store.count()).toBe(2);
  });

  it("searches words (prefix, any order, case-insensitive) in message and nick, newest first", async () => {
    const store = make();
    await store.append(entry({ message: "restarted memcached on mc1004" }));
    await store.append(entry({ nick: "bob", message: "Restarting apache on mw1001" }));
    await store.append(entry({ nick: "carol", message: "depooled db1001" }));
    const r = await store.search({ q: "restart", limit: 10 });
    expect(r.entries.map((e) => e.nick)).toEqual(["bob", "alice"]);
    expect((await store.search({ q: "mc1004 RESTARTED", limit: 10 })).entries).toHaveLength(1);
    expect((await store.search({ q: "carol", limit: 10 })).entries.map((e) => e.message)).toEqual(["depooled db1001"]);
    // FTS syntax in user text is taken literally, never an error.
    expect((await store.search({ q: '("db1001* -:^', limit: 10 })).entries).toHaveLength(1);
  });

  it("filters by nick, project and on-or-before day, and pages with a cursor", async () => {
    const store = make();
    for (let i = 0; i < 5; i++) {
      clock = new Date(Date.UTC(2026, 10, 20 + i, 12));
      await store.append(entry({ message: `m${i}`, project: i % 2 ? "mediawiki" : null, nick: i === 4 ? "Bob" : "alice" }));
    }
    expect((await store.search({ nick: "bob", limit: 10 })).entries.map((e) => e.message)).toEqual(["m4"]);
    expect((await store.search({ project: "mediawiki", limit: 10 })).entries.map((e) => e.message)).toEqual(["m3", "m1"]);
    expect((await store.search({ before: "2026-11-22", limit: 10 })).entries.map((e) => e.message)).toEqual(["m2", "m1", "m0"]);
    const p1 = await store.search({ limit: 2 });
    expect(p1.entries.map((e) => e.message)).toEqual(["m4", "m3"]);
    const p2 = await store.search({ limit: 2, cursor: p1.nextCursor! });
    expect(p2.entries.map((e) => e.message)).toEqual(["m2", "m1"]);
    const p3 = await store.search({ limit: 2, cursor: p2.nextCursor! });
    expect(p3.entries.map((e) => e.message)).toEqual(["m0"]);
    expect(p3.nextCursor).toBeNull();
  });
});

describe.each(Object.keys(factories))("SalStore contract, words with filters: %s", (kind) => {
  it("combines words with nick, project, before and a cursor", async () => {
    let now = new Date("2026-11-01T12:00:00.000Z");
    const { store, cleanup } = factories[kind]!(() => now);
    for (let i = 0; i < 12; i++) {
      now = new Date(Date.UTC(2026, 10, 1 + i, 12));
      await store.append(entry({ nick: i % 3 === 0 ? "bob" : "alice", project: i % 2 ? "puppet" : null, message: `restarted apache on mw${1000 + i}` }));
    }
    const ids = async (q: Parameters<SalStore["search"]>[0]) => (await store.search(q)).entries.map((e) => e.id);
    expect(await ids({ q: "restarted", nick: "BOB", limit: 10 })).toEqual([10, 7, 4, 1]);
    expect(await ids({ q: "apache", project: "puppet", before: "2026-11-06", limit: 10 })).toEqual([6, 4, 2]);
    const p1 = await store.search({ q: "restart", nick: "alice", limit: 3 });
    expect(p1.entries.map((e) => e.id)).toEqual([12, 11, 9]);
    expect(await ids({ q: "restart", nick: "alice", limit: 3, cursor: p1.nextCursor! })).toEqual([8, 6, 5]);
    expect(await ids({ q: "mw1003", limit: 10 })).toEqual([4]);
    await store.append(entry({ message: "Started deploy api", source: "deploy", deployId: 7 }));
    expect(await ids({ deployId: 7, limit: 10 })).toEqual([13]);
    cleanup();
  });
});

describe("SqliteSalStore durability", () => {
  it("refuses updates and deletes, and keeps entries across reopen", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sal-"));
    const file = join(dir, "sal.db");
    const store = new SqliteSalStore(file, () => new Date());
    const { entry: e } = await store.append(entry());
    await store.close();
    const raw = new Database(file);
    expect(() => raw.prepare("UPDATE entries SET message = 'x'").run()).toThrow(/append-only/);
    expect(() => raw.prepare("DELETE FROM entries").run()).toThrow(/append-only/);
    raw.close();
    const reopened = new SqliteSalStore(file, () => new Date());
    expect(await reopened.get(e.id)).toEqual(e);
    await reopened.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("SqliteSalStore ordering", () => {
  it("stamps times that never go backwards, so ids and times grow together", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sal-"));
    let clock = new Date("2026-11-20T10:00:00.000Z");
    const store = new SqliteSalStore(join(dir, "sal.db"), () => clock);
    const a = await store.append(entry({ message: "first" }));
    clock = new Date("2026-11-20T09:00:00.000Z"); // the clock stepped back an hour
    const b = await store.append(entry({ message: "second" }));
    expect(b.entry.time).toBe(a.entry.time);
    expect((await store.search({ q: "second", before: "2026-11-20", limit: 5 })).entries.map((e) => e.id)).toEqual([b.entry.id]);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("SqliteSalStore group commit", () => {
  it("commits the appends of one turn together, answers each after its commit, and refuses a bad one alone", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sal-"));
    const file = join(dir, "sal.db");
    const store = new SqliteSalStore(file, () => new Date("2026-11-20T10:00:00.000Z"));
    // A reader on its own connection: what it sees is committed.
    const reader = new Database(file, { readonly: true });
    const committed = () => (reader.prepare("SELECT count(*) AS n FROM entries").get() as { n: number }).n;
    const seenAtAnswer: number[] = [];
    const calls = Array.from({ length: 40 }, (_, i) =>
      store.append(entry(i === 17 ? { message: null as never } : i === 31 ? { message: "retry", identity: "cron", idempotencyKey: "k1" } : i === 35 ? { message: "retry again", identity: "cron", idempotencyKey: "k1" } : { message: `entry ${i}` }))
        .then((r) => (seenAtAnswer.push(committed()), r)),
    );
    const results = await Promise.allSettled(calls);
    expect(store.commits).toEqual({ transactions: 1, appends: 39 });
    // Entry 17 (no message) is refused with SQLite's reason; every other caller has its entry, in call order.
    expect(results[17]).toMatchObject({ status: "rejected", reason: { message: expect.stringMatching(/NOT NULL constraint failed: entries\.message/) } });
    const ok = results.filter((r): r is PromiseFulfilledResult<AppendResult> => r.status === "fulfilled").map((r) => r.value);
    expect(ok).toHaveLength(39);
    expect(ok.filter((r) => r.created).map((r) => r.entry.id)).toEqual(Array.from({ length: 38 }, (_, i) => i + 1));
    // The same idempotency key twice in one batch: the second gets the first's entry.
    expect((results[35] as PromiseFulfilledResult<AppendResult>).value).toEqual({ entry: (results[31] as PromiseFulfilledResult<AppendResult>).value.entry, created: false });
    // No caller was answered before its entry was visible to another connection.
    expect(Math.min(...seenAtAnswer)).toBe(38);
    // Appends after the batch go into the next transaction; close writes what is still pending.
    const late = store.append(entry({ message: "late" }));
    await store.close();
    expect((await late).entry.id).toBe(39);
    expect(committed()).toBe(39);
    reader.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
