// Graphite watch rules against a real Graphite (carbon-cache + graphite-web, history backfilled with
// timestamped plaintext lines): the scheduler runs on a FakeClock set inside that history, so every
// evaluation asks the real render API about known points. A threshold rule fires and resolves, a
// Holt-Winters rule (Graphite's holtWintersConfidenceBands) flags an outlier and not normal data, a
// series that stops reporting is NO DATA, a Graphite that refuses is reported as such. Then the whole
// bot with a rule on live data: the FIRING line reaches a real IRC client in a real ngircd channel.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlertAnnouncer } from "../../src/alerts/alert-announcer.js";
import { SqliteAlertStore } from "../../src/alerts/alert-store.js";
import { GraphiteWatch } from "../../src/alerts/graphite-watch.js";
import { readings, targetsOf } from "../../src/alerts/watch-state.js";
import { stripFormatting } from "../../src/chat/format.js";
import type { Config } from "../../src/config/schema.js";
import { GraphiteSource } from "../../src/metrics/graphite.js";
import { FakeChat } from "../fakes/fake-chat.js";
import { FakeClock } from "../fakes/fake-clock.js";
import { freePort } from "../servers/daemon.js";
import { startGraphite, type GraphiteServer } from "../servers/graphite.js";
import { startNgircd, type NgircdServer } from "../servers/ngircd.js";
import { startBot, until, type RunningBot } from "../support/bot.js";
import { testConfig } from "../support/fake-services.js";
import { connectClient, type IrcTestClient, type ReceivedIrcMessage } from "../support/irc-test-client.js";

const MIN = 60_000;
const STEP = 10_000;
// History: 7 hours of 10 s points ending 20 minutes ago (inside the 2-day retention).
const END = Math.floor(Date.now() / STEP) * STEP - 20 * MIN;
const START = END - 7 * 60 * MIN;
/** The latency steps from 100 to 900 for five minutes at T. */
const T = END - 40 * MIN;
/** A seasonal series (10-minute period) with one outlier at SPIKE. */
const SPIKE = END - 30 * MIN + 5 * STEP;
/** Stops reporting at STOP. */
const STOP = END - 20 * MIN;
const noise = (i: number) => ((i * 7919) % 13) / 13 - 0.5; // -0.5..0.5, deterministic
// The season's phase is fixed against START (not the wall clock), so every run feeds Graphite the same
// series and its Holt-Winters band is the same. With the phase taken from the clock, the band, as it
// adapted to the outlier, left some normal points after it outside in some runs (a second FIRING, or the
// RESOLVED 50 s late; seen with the outlier 590 s into its season). Here it sits 440 s into its season.
const seasonal = (t: number, i: number) => 200 + 50 * Math.sin((2 * Math.PI * (t - START + 390_000)) / (10 * MIN)) + 4 * noise(i);

let graphite: GraphiteServer;

beforeAll(async () => {
  graphite = await startGraphite();
  const lines: Array<[string, number, number]> = [];
  for (let t = START, i = 0; t <= END; t += STEP, i++) {
    lines.push(["watch.api.latency", t >= T && t < T + 5 * MIN ? 900 : 100 + 10 * noise(i), t]);
    lines.push(["watch.api.requests", t === SPIKE ? seasonal(t, i) + 200 : seasonal(t, i), t]);
    if (t < STOP) lines.push(["watch.api.heartbeat", 1, t]);
  }
  await graphite.backfill(lines);
}, 240_000);

afterAll(async () => {
  await graphite?.stop();
});

describe("watch rules against a real Graphite", () => {
  const run = async (watchConfig: unknown[], from: number, to: number, everyMs = MIN) => {
    const dir = mkdtempSync(join(tmpdir(), "tugboat-watch-it-"));
    const clock = new FakeClock(from);
    const store = new SqliteAlertStore(join(dir, "alerts.sqlite3"), () => new Date(clock.now()));
    const config: Config = testConfig({ metrics: { graphite: { url: graphite.url } }, alerts: { gatherMs: 0, watch: watchConfig as never } });
    const chat = new FakeChat();
    const announcer = new AlertAnnouncer({
      store, chat, config: config.alerts, defaultChannels: ["#operations"], linker: null, alertsUrl: () => "https://bot.test/alerts",
      clock: { now: () => clock.now(), setInterval: () => null, clearInterval: () => undefined }, log: pino({ level: "silent" }),
    });
    announcer.tick();
    const watch = new GraphiteWatch({
      rules: config.alerts.watch, urlOf: (r) => r.url ?? graphite.url, source: (url, timeoutMs) => new GraphiteSource({ url, timeoutMs }),
      publish: (ns) => store.record(ns), firing: () => store.firing(), clock, log: pino({ level: "silent" }),
    });
    const seen: Array<[number, string]> = [];
    try {
      for (let t = from; t <= to; t += everyMs) {
        if (t > from) clock.advance(everyMs);
        await watch.round();
        const before = chat.sent.length;
        announcer.tick();
        for (const l of chat.sent.slice(before)) seen.push([(clock.now() - from) / MIN, stripFormatting(l.text)]);
      }
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
    return seen;
  };

  it("a threshold rule: pending for `for`, FIRING, then RESOLVED when the value is back", async () => {
    const lines = await run([{ name: "ApiLatency", target: "watch.api.latency", threshold: { above: 500 }, for: "2m", interval: "1m", lookback: "1m", summary: "latency high" }], T - 2 * MIN + 5000, T + 9 * MIN);
    // The step starts at minute 2 of the walk; 2 minutes of `for` later it fires; it ends at minute 7.
    expect(lines).toEqual([
      [4, expect.stringMatching(/^FIRING \[warning\] ApiLatency x1: latency high: 900 > 500 - http:\/\/127\.0\.0\.1:\d+\/render\?target=watch\.api\.latency&from=-6h$/)],
      [7, expect.stringMatching(/^RESOLVED \[warning\] ApiLatency x1: latency high: \d+(\.\d+)? - http/)],
    ]);
  }, 60_000);

  it("a Holt-Winters rule: Graphite's band flags the outlier and not the normal data around it", async () => {
    const rule = { name: "Requests", target: "watch.api.requests", band: { kind: "holt-winters", delta: 3, bootstrap: "5h", seasonality: "10m" }, for: 0, interval: "10s", lookback: "20s", timeoutMs: 5000, summary: "requests unusual" };
    // Every 10 s from 10 minutes before the outlier to 10 minutes after: exactly one breach, at the outlier.
    const lines = await run([rule], SPIKE - 10 * MIN + 5000, SPIKE + 10 * MIN, STEP);
    expect(lines.map(([, l]) => l.split(":")[0])).toEqual(["FIRING [warning] Requests x1", "RESOLVED [warning] Requests x1"]);
    expect(lines[0]![0]).toBeCloseTo(10, 5);
    expect(lines[0]![1]).toMatch(/^FIRING \[warning\] Requests x1: requests unusual: \d+(\.\d+)? outside the Holt-Winters band \d+(\.\d+)?\.\.\d+(\.\d+)? - http/);
    expect(lines[1]![0]).toBeCloseTo(10 + 1 / 6, 5);
    // The band itself, as Graphite answers it: the outlier above the upper band, its neighbours inside.
    const source = new GraphiteSource({ url: graphite.url, timeoutMs: 10_000 });
    const parsed = { target: rule.target, band: { kind: "holt-winters" as const, delta: 3, bootstrap: 5 * 60 * MIN, seasonality: 10 * MIN }, lookback: 20_000 };
    const at = async (t: number) => readings(parsed, await source.render(targetsOf(parsed), t - 20_000, t + 5000), t + 5000).get(rule.target)?.kind;
    expect(await at(SPIKE)).toBe("breach");
    expect(await at(SPIKE - STEP)).toBe("ok");
    expect(await at(SPIKE + 30 * STEP)).toBe("ok");
  }, 120_000);

  it("a series that stops reporting is NO DATA after `for`, never OK", async () => {
    const lines = await run([{ name: "Heartbeat", target: "watch.api.heartbeat", threshold: { below: 1 }, for: "2m", interval: "1m", lookback: "1m" }], STOP - 3 * MIN + 5000, STOP + 5 * MIN);
    expect(lines).toEqual([[6, expect.stringMatching(/^NO DATA \[warning\] Heartbeat x1: no points in the last 60s \(since \d\d:\d\d UTC\) - http/)]]);
  }, 60_000);

  it("a Graphite that refuses connections, or never answers, is one line each naming the rules, not OK", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    // Accepts connections and never answers: only the deadline ends the call.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const hung = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const rules = [
      ...["A", "B"].map((name) => ({ name, url: closed, target: "watch.api.latency", threshold: { above: 500 }, interval: "1m", timeoutMs: 2000 })),
      { name: "C", url: hung, target: "watch.api.latency", threshold: { above: 500 }, interval: "1m", timeoutMs: 500, severity: "critical" },
    ];
    const started = Date.now();
    const lines = await run(rules, T, T + 3 * MIN);
    silent.close();
    expect(lines.map(([m, l]) => [m, l.replace(/\d\d:\d\d UTC/, "HH:MM UTC")]).sort()).toEqual([
      [0, "FIRING [critical] GraphiteWatchFailing x1: graphite: no answer within 500 ms (since HH:MM UTC); not evaluated: C"],
      [0, "FIRING [warning] GraphiteWatchFailing x1: graphite: connection refused (since HH:MM UTC); not evaluated: A, B"],
    ]);
    // Four rounds, each held up by the deadline only.
    expect(Date.now() - started).toBeLessThan(4 * 500 + 3000);
  }, 60_000);
});

describe("a watch rule on live data, end to end to a real IRC channel", () => {
  let irc: NgircdServer;
  let bot: RunningBot;
  let alice: IrcTestClient;
  const noticeFromBot = (m: ReceivedIrcMessage) => m.command === "NOTICE" && m.nick === "tugboat" && m.params[0] === "#operations";
  const text = (m: ReceivedIrcMessage) => stripFormatting(m.params[1] ?? "");

  beforeAll(async () => {
    irc = await startNgircd({ fast: true });
    bot = await startBot({
      port: irc.port,
      config: {
        metrics: { graphite: { url: graphite.url } },
        alerts: {
          gatherMs: 500,
          watch: [{ name: "LiveQueue", target: "live.*.queue", instanceNode: 1, threshold: { above: 100 }, for: "2s", interval: "1s", lookback: "1m", timeoutMs: 900, severity: "critical", labels: { team: "web" }, summary: "queue backlog", runbook: "https://runbooks.test/queue" }],
        },
      },
    });
    await until(() => bot.chat.status().connected, 10_000, "bot joined");
    alice = await connectClient({ host: irc.host, port: irc.port, nick: "alice" });
    await alice.join("#operations");
  }, 60_000);

  afterAll(async () => {
    alice?.destroy();
    await bot?.stop();
    await irc?.stop();
  });

  it("a breach fed to carbon now reaches the channel as FIRING, and !alerts lists it", async () => {
    const mark = alice.mark();
    const now = Date.now();
    await graphite.backfill([["live.web01.queue", 500, now - 10_000], ["live.web01.queue", 520, now], ["live.web02.queue", 3, now]]);
    const firing = await alice.waitFor((m) => noticeFromBot(m) && /^FIRING/.test(text(m)), { since: mark, timeoutMs: 30_000 });
    expect(text(firing)).toBe("FIRING [critical] LiveQueue x1 on web01: queue backlog: 520 > 100 - https://runbooks.test/queue");
    const list = alice.mark();
    alice.say("#operations", "!alerts team=web");
    const answer = await alice.waitFor((m) => m.nick === "tugboat" && m.command === "PRIVMSG", { since: list });
    expect(answer.params[1]).toBe(`alice: 1 alert firing matching "team=web" (${bot.url}/alerts):`);
    expect(bot.app.metrics.value("tugboat_watch_evaluations_total", { rule: "LiveQueue", outcome: "ok" })).toBeGreaterThan(0);
    const page = await fetch(`${bot.url}/alerts`).then((r) => r.text());
    expect(page).toMatch(/<strong>LiveQueue<\/strong><\/td><td>critical<\/td><td>web01<\/td><td>queue backlog: 520 &gt; 100<\/td>/);
    // Evaluated every second, announced once.
    await new Promise((r) => setTimeout(r, 3000));
    expect(alice.messages.slice(mark).filter((m) => noticeFromBot(m) && /LiveQueue/.test(text(m)))).toHaveLength(1);
  }, 60_000);
});
