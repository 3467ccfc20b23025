// log-roundtrip: a person types `!log ...` in #operations and waits for the bot's acknowledgement,
// over a real ngircd (fast: MaxPenaltyTime=0) with the bot's pacing off. Baseline in the same run:
// the floor, a raw echo between two raw IRC clients through the same ngircd. Also the durable append
// alone (SqliteSalStore, WAL + synchronous=FULL), the part of the round trip that waits on the disk.
// The three arms run side by side, interleaved in blocks.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteSalStore } from "../src/sal/sqlite-store.js";
import { startNgircd } from "../test/servers/ngircd.js";
import { connectClient, type IrcTestClient } from "../test/support/irc-test-client.js";
import { startChild } from "./lib/child.js";
import { cpuShareMeter, describeCpuShare, describeEnvironment, probeEnvironment, waitForQuiet } from "./lib/environment.js";
import { describeMachine } from "./lib/machine.js";
import { interleave, ms, printTable, summarize, writeResults } from "./lib/stats.js";

const WARMUP = 50;
const ROUND_TRIPS = 1000;
const MAX_PHASE_MS = 120_000;
const REPLY_TIMEOUT_MS = 10_000;
const TARGET_P99_MS = 50;
const BOT_FLOOD = { burst: 20, intervalMs: 0 };
/** The three arms alternate in blocks so a neighbour's load spike hits them alike. */
const BLOCKS = 10;

/** Says `text` in `channel` and resolves with the next PRIVMSG `from` sends there. */
async function roundTrip(client: IrcTestClient, channel: string, text: string, from: string): Promise<string> {
  const mark = client.mark();
  client.say(channel, text);
  const m = await client.waitFor((msg) => msg.command === "PRIVMSG" && msg.nick === from && msg.params[0] === channel, { since: mark, timeoutMs: REPLY_TIMEOUT_MS });
  return m.params[1] ?? "";
}

interface BotStatus {
  memory: { rss: number };
  entries: number;
  synchronous: number | null;
  journalMode: string | null;
  chat: { queueDepth: number };
}

interface Arms {
  floor: (i: number) => Promise<void>;
  bot: (i: number) => Promise<void>;
  append: (i: number) => Promise<void>;
}

/**
 * Starts the echo child (the floor), the bot child and a store of its own for the append-alone arm,
 * each with its raw client; `use` gets one round trip per arm. Everything is stopped afterwards.
 */
async function withArms<T>(port: number, use: (arms: Arms, botStatus: () => Promise<BotStatus>) => Promise<T>): Promise<T> {
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    const echo = await startChild<{ nick: string }>("irc-echo", [String(port), "#floor", "echo"]);
    cleanups.push(() => echo.stop());
    const a = await connectClient({ host: "127.0.0.1", port, nick: "floora" });
    cleanups.push(() => a.destroy());
    await a.join("#floor");

    const bot = await startChild<{ url: string; nick: string }>("bot", [String(port), JSON.stringify(BOT_FLOOD)]);
    cleanups.push(() => bot.stop());
    const alice = await connectClient({ host: "127.0.0.1", port, nick: "alice" });
    cleanups.push(() => alice.destroy());
    await alice.join("#operations");

    // The store's append alone, on the same filesystem as the bot's data dir (os.tmpdir()).
    const dir = mkdtempSync(join(tmpdir(), "tugboat-bench-append-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = new SqliteSalStore(join(dir, "sal.sqlite3"), () => new Date());
    cleanups.push(() => store.close());

    let expectedId = 1;
    const arms: Arms = {
      async floor(i) {
        const text = `!log bench entry ${i}`;
        const got = await roundTrip(a, "#floor", text, echo.ready.nick);
        if (got !== text) throw new Error(`echo answered ${JSON.stringify(got)} to ${JSON.stringify(text)}`);
      },
      async bot(i) {
        const got = await roundTrip(alice, "#operations", `!log bench entry ${i}`, bot.ready.nick);
        const want = `alice: Logged the message at ${bot.ready.url}/log/${expectedId}`;
        if (got !== want) throw new Error(`the bot answered ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
        expectedId++;
      },
      async append(i) {
        await store.append({
          nick: "alice", account: null, mask: "alice!~alice@127.0.0.1", channel: "#operations", project: null,
          message: `bench entry ${i}`, source: "irc", identity: null, deployId: null, task: null,
        });
      },
    };
    const status = async () => {
      const s = await bot.request<BotStatus>("status");
      if (s.entries !== expectedId - 1) throw new Error(`the store holds ${s.entries} entries, ${expectedId - 1} were acknowledged`);
      return s;
    };
    return await use(arms, status);
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

export async function run(): Promise<void> {
  const machine = describeMachine();
  const started = Date.now();
  const quiet = await waitForQuiet();
  const envBefore = await probeEnvironment();
  console.log(describeEnvironment("machine before", envBefore));
  const server = await startNgircd({ fast: true });
  let warm, timed, cpu, botStatus;
  try {
    ({ warm, timed, cpu, botStatus } = await withArms(server.port, async (arms, status) => {
      const w = await interleave(arms, { blocks: 1, perBlock: WARMUP, maxMs: MAX_PHASE_MS });
      const meter = cpuShareMeter();
      const t = await interleave(arms, { blocks: BLOCKS, perBlock: ROUND_TRIPS / BLOCKS, maxMs: MAX_PHASE_MS });
      return { warm: w, timed: t, cpu: meter(), botStatus: await status() };
    }));
  } finally {
    await server.stop();
  }
  const envAfter = await probeEnvironment();
  console.log(describeEnvironment("machine after", envAfter));
  console.log(describeCpuShare(cpu));
  const rows = [
    { name: "floor: raw echo A->ngircd->B->ngircd->A", loop: timed.floor },
    { name: "bot: !log -> durable append -> ack", loop: timed.bot },
    { name: "SqliteSalStore.append alone (FULL)", loop: timed.append },
  ].map((r) => ({ ...r, stats: summarize(r.loop.samples) }));
  printTable(
    `log-roundtrip: ${ROUND_TRIPS} sequential round trips per arm after ${WARMUP} warm-up, interleaved in ${BLOCKS} blocks, ngircd ${machine.ngircd} fast, bot pacing off (ms)`,
    ["case", "n", "p50", "p90", "p99", "max", "mean"],
    rows.map((r) => [r.name, String(r.stats.n), ms(r.stats.p50), ms(r.stats.p90), ms(r.stats.p99), ms(r.stats.max), ms(r.stats.mean)]),
  );
  const botStats = rows[1]!.stats;
  const pass = botStats.p99 <= TARGET_P99_MS;
  const sync = botStatus.synchronous;
  console.log(`target p99 <= ${TARGET_P99_MS} ms: ${pass ? "met" : "MISSED"} (${ms(botStats.p99)} ms); bot over floor at p50: +${ms(botStats.p50 - rows[0]!.stats.p50)} ms`);
  console.log(
    `bot store: journal_mode=${botStatus.journalMode}, synchronous=${sync} (${sync === 2 ? "FULL" : sync === 3 ? "EXTRA" : "not FULL"}); ${botStatus.entries} entries stored = acknowledged; bot RSS ${botStatus.memory.rss} MiB`,
  );
  const file = writeResults("log-roundtrip", {
    benchmark: "log-roundtrip",
    date: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    machine,
    settings: { warmup: WARMUP, roundTrips: ROUND_TRIPS, interleavedBlocks: BLOCKS, ngircd: "fast (MaxPenaltyTime=0)", botFlood: BOT_FLOOD, targetP99Ms: TARGET_P99_MS },
    unit: "ms",
    environment: { quietWait: quiet, before: envBefore, after: envAfter, duringTimedPart: cpu },
    floor: { ...rows[0]!.stats, stoppedBy: timed.floor.stoppedBy, warmupP50: summarize(warm.floor.samples).p50 },
    bot: { ...botStats, stoppedBy: timed.bot.stoppedBy, warmupP50: summarize(warm.bot.samples).p50, targetMet: pass },
    appendAlone: { ...rows[2]!.stats, stoppedBy: timed.append.stoppedBy, warmupP50: summarize(warm.append.samples).p50 },
    botStore: { journalMode: botStatus.journalMode, synchronous: sync, entries: botStatus.entries },
    botRssMiB: botStatus.memory.rss,
  });
  console.log(`figures written to ${file}`);
}
