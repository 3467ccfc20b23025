// api-insert: POST /api/log against the real bot's web server (startBot in a child process, joined to a
// fast ngircd, production pacing), 8 concurrent keep-alive clients, a unique idempotency key per
// request. Baseline in the same run and under the same load: a bare node:http server appending JSON
// lines with an fsync per request (children/jsonl-server.ts), both up at once and loaded in
// alternating blocks. Reports req/s, latency, RSS, and the bot's announcement backlog; first, how long
// a person's !log waits behind the announcements of a short API burst.

import { performance } from "node:perf_hooks";
import { startNgircd } from "../test/servers/ngircd.js";
import { API_TOKEN } from "../test/support/bot.js";
import { connectClient } from "../test/support/irc-test-client.js";
import { startChild, type ChildHandle } from "./lib/child.js";
import { runLoad, type LoadResult } from "./lib/http-load.js";
import { cpuShareMeter, describeCpuShare, describeEnvironment, probeEnvironment, waitForQuiet, type CpuShare } from "./lib/environment.js";
import { describeMachine } from "./lib/machine.js";
import { ms, printTable, summarize, writeResults } from "./lib/stats.js";

const CONCURRENCY = 8;
const WARMUP = 500;
const REQUESTS = 5000;
const MAX_PHASE_MS = 120_000;
const BLOCKS = 10;
/** Entries a script logs just before a person's !log, in the side measurement. */
const BURST = 10;

interface Status {
  memory: { rss: number; heapUsed: number };
  entries: number;
  chat?: { queueDepth: number; connected: boolean };
  synchronous?: number | null;
}

interface Arm {
  readonly label: string;
  readonly child: ChildHandle<{ url: string }>;
  /** Requests sent so far (keys stay unique across blocks and phases). */
  sent: number;
  warm: LoadResult[];
  timed: LoadResult[];
}

async function block(arm: Arm, phase: "warm" | "timed", total: number, maxMs: number): Promise<void> {
  const offset = arm.sent;
  arm.sent += total;
  const r = await runLoad({
    url: arm.child.ready.url, path: "/api/log", concurrency: CONCURRENCY, total, maxMs, expectStatus: 201,
    build: (i) => ({
      body: { message: `bench ${arm.label} entry ${offset + i}: restarted php-fpm on mw${1000 + ((offset + i) % 2000)} (T${300000 + offset + i})`, idempotencyKey: `bench-${arm.label}-${offset + i}` },
      headers: { authorization: `Bearer ${API_TOKEN}` },
    }),
  });
  if (r.failed > 0) throw new Error(`${arm.label} ${phase}: ${r.failed} requests failed, first: ${r.firstFailure}`);
  arm.sent -= total - r.ok;
  arm[phase].push(r);
}

/**
 * Side measurement, before the load: a script logs BURST entries through the API (each announced in
 * the channel, paced as in production), then a person types `!log` there. Replies share the one
 * outbound FIFO with the announcements, so the acknowledgement waits behind them.
 */
async function ackBehindAnnouncements(port: number, bot: ChildHandle<{ url: string; nick: string }>): Promise<{ burst: number; ackMs: number; noticesBeforeAck: number }> {
  const carol = await connectClient({ host: "127.0.0.1", port, nick: "carol" });
  try {
    await carol.join("#operations");
    const posted = await runLoad({
      url: bot.ready.url, path: "/api/log", concurrency: 1, total: BURST, maxMs: 30_000, expectStatus: 201,
      build: (i) => ({ body: { message: `nightly job step ${i} done`, idempotencyKey: `bench-burst-${i}` }, headers: { authorization: `Bearer ${API_TOKEN}` } }),
    });
    if (posted.ok !== BURST) throw new Error(`burst: ${posted.ok} of ${BURST} entries accepted, first failure: ${posted.firstFailure}`);
    const mark = carol.mark();
    const t0 = performance.now();
    carol.say("#operations", "!log checked the nightly job");
    await carol.waitFor((m) => m.command === "PRIVMSG" && m.nick === bot.ready.nick && (m.params[1] ?? "").startsWith("carol: Logged"), { since: mark, timeoutMs: 60_000 });
    const ackMs = performance.now() - t0;
    const noticesBeforeAck = carol.messages.filter((m) => m.index >= mark && m.command === "NOTICE" && m.nick === bot.ready.nick).length;
    return { burst: BURST, ackMs, noticesBeforeAck };
  } finally {
    carol.destroy();
  }
}

function pooled(results: readonly LoadResult[]) {
  const samples = results.flatMap((r) => r.samples);
  const ok = results.reduce((a, r) => a + r.ok, 0);
  const wallMs = results.reduce((a, r) => a + r.wallMs, 0);
  return { ok, wallMs, reqPerSec: (ok / wallMs) * 1000, ...summarize(samples), stoppedBy: results.some((r) => r.stoppedBy === "time") ? "time" : "count", socketsPerBlock: Math.max(...results.map((r) => r.sockets)) };
}

export async function run(): Promise<void> {
  const machine = describeMachine();
  const started = Date.now();
  const quiet = await waitForQuiet();
  const envBefore = await probeEnvironment();
  console.log(describeEnvironment("machine before", envBefore));
  const server = await startNgircd({ fast: true });
  const children: Array<ChildHandle<{ url: string }>> = [];
  let behind: Awaited<ReturnType<typeof ackBehindAnnouncements>>;
  let cpu: CpuShare;
  let bot: Arm, base: Arm, botStatus: Status, baseStatus: Status, botBefore: Status, baseBefore: Status;
  try {
    const botChild = await startChild<{ url: string; nick: string }>("bot", [String(server.port), "default"]);
    children.push(botChild);
    behind = await ackBehindAnnouncements(server.port, botChild);
    const jsonl = await startChild<{ url: string }>("jsonl-server", []);
    children.push(jsonl);
    // The burst's entries and the person's !log are in the store too.
    bot = { label: "bot", child: botChild, sent: BURST + 1, warm: [], timed: [] };
    base = { label: "jsonl", child: jsonl, sent: 0, warm: [], timed: [] };
    const deadline = Date.now() + MAX_PHASE_MS;
    for (const arm of [bot, base]) await block(arm, "warm", WARMUP, MAX_PHASE_MS);
    botBefore = await botChild.request<Status>("status");
    baseBefore = await jsonl.request<Status>("status");
    // Alternating blocks (bot, baseline, then baseline, bot, ...): a neighbour's load spike hits both.
    const meter = cpuShareMeter();
    for (let b = 0; b < BLOCKS && Date.now() < deadline; b++) {
      for (const arm of b % 2 === 0 ? [bot, base] : [base, bot]) await block(arm, "timed", REQUESTS / BLOCKS, Math.max(1, deadline - Date.now()));
    }
    cpu = meter();
    botStatus = await botChild.request<Status>("status");
    baseStatus = await jsonl.request<Status>("status");
    for (const [arm, st] of [[bot, botStatus], [base, baseStatus]] as const) {
      if (st.entries !== arm.sent) throw new Error(`${arm.label} holds ${st.entries} entries, ${arm.sent} were acknowledged`);
    }
  } finally {
    for (const c of children.reverse()) await c.stop();
    await server.stop();
  }
  const envAfter = await probeEnvironment();
  console.log(describeEnvironment("machine after", envAfter));
  console.log(describeCpuShare(cpu));
  const idle = await startChild<object>("idle", []);
  const idleStatus = await idle.request<Status>("status");
  await idle.stop();

  const row = (name: string, arm: Arm, before: Status, after: Status) => ({
    name, ...pooled(arm.timed), entriesStored: after.entries, rssBeforeMiB: before.memory.rss, rssAfterMiB: after.memory.rss, heapUsedAfterMiB: after.memory.heapUsed,
  });
  const rows = [row("bot: fastify + zod + SQLite (WAL, FULL) + FTS", bot, botBefore, botStatus), row("baseline: node:http + JSON line + fsync", base, baseBefore, baseStatus)];
  printTable(
    `api-insert: ${REQUESTS} POST /api/log per server after ${WARMUP} warm-up, ${CONCURRENCY} keep-alive clients, unique idempotency keys, ${BLOCKS} alternating blocks`,
    ["server", "n", "req/s", "p50 ms", "p99 ms", "max ms", "RSS MiB after (after warm-up)", "sockets"],
    rows.map((r) => [r.name, String(r.n), r.reqPerSec.toFixed(0), ms(r.p50), ms(r.p99), ms(r.max), `${r.rssAfterMiB} (${r.rssBeforeMiB})`, String(r.socketsPerBlock)]),
  );
  const queue = botStatus.chat?.queueDepth ?? 0;
  console.log(`before the load: after ${behind.burst} API entries, a person's !log was acknowledged in ${(behind.ackMs / 1000).toFixed(1)} s, behind ${behind.noticesBeforeAck} announcement NOTICEs (one outbound FIFO, production pacing)`);
  console.log(`RSS of an idle node + tsx child, for reference: ${idleStatus.memory.rss} MiB`);
  console.log(`bot: ${botStatus.entries} entries stored = acknowledged; synchronous=${botStatus.synchronous ?? "?"}; announcement lines still queued after the run: ${queue} (production pacing: ~${Math.round(queue / 60)} min to drain)`);
  const file = writeResults("api-insert", {
    benchmark: "api-insert",
    date: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    machine,
    environment: { quietWait: quiet, before: envBefore, after: envAfter, duringTimedPart: cpu },
    settings: { concurrency: CONCURRENCY, warmup: WARMUP, requests: REQUESTS, alternatingBlocks: BLOCKS, keepAlive: true, botFlood: "production default (burst 4, 1 line/s)" },
    unit: "ms",
    bot: { ...rows[0], storeSynchronous: botStatus.synchronous ?? null, announcementQueueDepthAfter: queue },
    baseline: rows[1],
    idleChildRssMiB: idleStatus.memory.rss,
    ackBehindAnnouncements: behind,
  });
  console.log(`figures written to ${file}`);
}
