// The SAL survives the bot being killed mid-write: POST /api/log streams in (4 at a time), the bot is
// SIGKILLed at a random moment, restarted on the same data directory, and every acknowledged entry
// must be there with its id and message, ids without gaps, no stray or half-written rows. Three kills.

import Database from "better-sqlite3";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "vitest";
import { cleanEnv, consoleConfig, freePort, startCli, tempDir, writeConfig, type RunningCli } from "./harness.js";

const TOKEN = "durability-token-0123456789";
const IDENTITY = "stress@e2e";
const KILLS = 3;
const CONCURRENCY = 4;
/** Bounds on one round's stream, should the kill never come. */
const MAX_REQUESTS = 3000;
const MAX_MS = 10_000;
/** Kill only once this many entries were acknowledged in the round, so it lands mid-stream. */
const MIN_ACKS_BEFORE_KILL = 20;

interface Ack {
  readonly id: number;
  readonly message: string;
}

interface ApiEntry {
  id: number;
  time: string;
  nick: string;
  channel: string | null;
  message: string;
  source: string;
  identity: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function allEntries(url: string): Promise<ApiEntry[]> {
  const out: ApiEntry[] = [];
  let cursor: string | null = null;
  do {
    const res = await fetch(`${url}/api/sal?limit=500${cursor ? `&cursor=${cursor}` : ""}`, { signal: AbortSignal.timeout(10_000) });
    const page = (await res.json()) as { entries: ApiEntry[]; nextCursor: string | null };
    out.push(...page.entries);
    cursor = page.nextCursor;
  } while (cursor);
  return out.sort((a, b) => a.id - b.id);
}

/**
 * Streams POST /api/log with CONCURRENCY workers until `stop()` says so or a bound is hit.
 * Returns the acknowledged (201) entries and any failure that happened while the bot should be up.
 */
function stream(url: string, round: number, sent: Set<string>, killed: () => boolean) {
  const acks: Ack[] = [];
  const unexpected: string[] = [];
  const started = Date.now();
  let n = 0;
  const worker = async () => {
    while (!killed() && n < MAX_REQUESTS && Date.now() - started < MAX_MS) {
      const message = `durability round ${round} request ${++n} (T${round}${n})`;
      sent.add(message);
      try {
        const res = await fetch(`${url}/api/log`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ message, idempotencyKey: message }),
          signal: AbortSignal.timeout(10_000),
        });
        const body = (await res.json()) as { entry?: { id: number; message: string }; error?: string };
        if (res.status === 201 && body.entry) {
          if (body.entry.message !== message) unexpected.push(`201 for "${message}" answered "${body.entry.message}"`);
          acks.push({ id: body.entry.id, message });
        } else if (!killed()) {
          unexpected.push(`${res.status} for "${message}": ${JSON.stringify(body)}`);
        }
      } catch (e) {
        // After the kill, a request fails (refused, reset) or its response is lost: expected.
        if (!killed()) unexpected.push(`"${message}" failed before the kill: ${String((e as Error).cause ?? e)}`);
      }
    }
  };
  const done = Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { acks, unexpected, done, elapsed: () => Date.now() - started };
}

/** What a restarted bot serves must hold every acknowledged entry, contiguous ids, and nothing stray. */
async function checkLog(t: TestContext, url: string, acks: readonly Ack[], sent: ReadonlySet<string>): Promise<ApiEntry[]> {
  const entries = await allEntries(url);
  t.expect(entries.map((e) => e.id)).toEqual(entries.map((_, i) => i + 1));
  const byId = new Map(entries.map((e) => [e.id, e]));
  const lost = acks.filter((a) => byId.get(a.id)?.message !== a.message);
  t.expect(lost, "acknowledged entries missing or changed after the restart").toEqual([]);
  const stray = entries.filter((e) => !sent.has(e.message) || e.source !== "api" || e.identity !== IDENTITY || e.nick !== "stress" || e.channel !== "#operations" || Number.isNaN(Date.parse(e.time)));
  t.expect(stray, "rows that no request wrote, or wrote differently").toEqual([]);
  t.expect(new Set(entries.map((e) => e.message)).size).toBe(entries.length);
  return entries;
}

describe("durability of the SAL", () => {
  it(`keeps every acknowledged entry across ${KILLS} SIGKILLs mid-stream`, { timeout: 90_000 }, async (t) => {
    const dir = tempDir(t);
    const config = writeConfig(dir, consoleConfig(await freePort(), IDENTITY));
    writeFileSync(join(dir, "api-token"), `${TOKEN}\n`);
    const env = cleanEnv({ TUGBOAT_DATA_DIR: dir });
    const sent = new Set<string>();
    const acks: Ack[] = [];
    let bot: RunningCli = await startCli(t, ["--config", config], { env });

    for (let round = 1; round <= KILLS; round++) {
      let killed = false;
      const s = stream(bot.url, round, sent, () => killed);
      while (s.acks.length < MIN_ACKS_BEFORE_KILL && s.elapsed() < MAX_MS) await sleep(5);
      const delay = Math.floor(Math.random() * 1000);
      await sleep(delay);
      killed = true;
      bot.child.kill("SIGKILL");
      const exit = await bot.exited;
      await s.done;
      t.expect(exit.signal).toBe("SIGKILL");
      t.expect(s.unexpected).toEqual([]);
      t.expect(s.acks.length).toBeGreaterThanOrEqual(MIN_ACKS_BEFORE_KILL);
      acks.push(...s.acks);
      await t.annotate(`round ${round}: killed ${delay} ms after the ${MIN_ACKS_BEFORE_KILL}th ack, ${s.acks.length} acknowledged`);

      bot = await startCli(t, ["--config", config], { env });
      const entries = await checkLog(t, bot.url, acks, sent);
      t.expect(entries.length).toBeGreaterThanOrEqual(acks.length);
    }

    // A clean stop, then SQLite's own checks on the file.
    bot.child.kill("SIGTERM");
    t.expect((await bot.exited).code).toBe(0);
    const db = new Database(join(dir, "sal.sqlite3"), { fileMustExist: true });
    try {
      t.expect(db.pragma("integrity_check")).toEqual([{ integrity_check: "ok" }]);
      // Throws SQLITE_CORRUPT_VTAB if the full-text index disagrees with the entries.
      db.prepare("INSERT INTO entries_fts(entries_fts) VALUES ('integrity-check')").run();
      const { n, max } = db.prepare("SELECT count(*) AS n, max(id) AS max FROM entries").get() as { n: number; max: number };
      t.expect(n).toBe(max);
      t.expect(n).toBeGreaterThanOrEqual(acks.length);
    } finally {
      db.close();
    }
  });
});
