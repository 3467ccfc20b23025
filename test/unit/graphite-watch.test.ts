// Graphite watch rules without sockets: readings and the state machine table-driven, then the
// scheduler on a FakeClock against a scripted FakeGraphite, publishing into a real SqliteAlertStore
// that the real AlertAnnouncer reads into FakeChat lines (pending/for, resolve, NO DATA, an
// unreachable Graphite, a refused query, several series, a restart), and the rules' config errors.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AlertAnnouncer } from "../../src/alerts/alert-announcer.js";
import { SqliteAlertStore } from "../../src/alerts/alert-store.js";
import { AlertsService } from "../../src/alerts/alerts-service.js";
import { DeployLinker } from "../../src/alerts/deploy-link.js";
import { GraphiteWatch, type WatchSource } from "../../src/alerts/graphite-watch.js";
import { advance, QUIET, readings, targetsOf, type Reading, type SeriesState } from "../../src/alerts/watch-state.js";
import { stripFormatting } from "../../src/chat/format.js";
import { parseConfigText } from "../../src/config/load.js";
import type { Config, ConfigInput, WatchRule } from "../../src/config/schema.js";
import { DeployJournal } from "../../src/fleet/journal.js";
import type { NamedSeries } from "../../src/metrics/graphite.js";
import { MetricError } from "../../src/metrics/source.js";
import { SalService } from "../../src/sal/service.js";
import { FakeChat } from "../fakes/fake-chat.js";
import { FakeClock } from "../fakes/fake-clock.js";
import { MemorySalStore } from "../fakes/memory-sal-store.js";
import { testConfig } from "../support/fake-services.js";

const MIN = 60_000;
const T0 = Date.parse("2026-11-26T12:00:00Z");

/** A Graphite whose answer the test sets: series (points relative to the call's `to`) or an error. */
class FakeGraphite implements WatchSource {
  readonly calls: Array<{ targets: readonly string[]; from: number; to: number }> = [];
  answer: ((to: number) => NamedSeries[]) | MetricError = () => [];
  inFlight = 0;
  maxInFlight = 0;
  async render(targets: readonly string[], from: number, to: number): Promise<NamedSeries[]> {
    this.calls.push({ targets, from, to });
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      await new Promise((r) => setImmediate(r));
      if (this.answer instanceof MetricError) throw this.answer;
      return this.answer(to);
    } finally {
      this.inFlight--;
    }
  }
  /** Each named series reports `value` at `to` (one point, 10 s old). */
  values(values: Record<string, number>): void {
    this.answer = (to) => Object.entries(values).map(([name, v]) => ({ name, points: [{ t: to - 10_000, v }] }));
  }
}

const configWith = (watch: unknown[], extra: ConfigInput = {}): Config => testConfig({ metrics: { graphite: { url: "http://graphite.test" } }, ...extra, alerts: { gatherMs: 0, ...extra.alerts, watch: watch as never } });
const rule = (over: Record<string, unknown> = {}) => ({ name: "ApiLatency", target: "api.latency.p95", threshold: { above: 500 }, for: "2m", interval: "1m", summary: "p95 latency high", runbook: "https://runbooks.test/latency", ...over });

describe("readings (pure)", () => {
  const r = (over: Partial<WatchRule>) => ({ target: "x", lookback: 5 * MIN, ...over }) as Pick<WatchRule, "target" | "threshold" | "band" | "lookback">;
  const at = (v: number | null, ago: number) => ({ t: T0 - ago, v });
  it.each<[string, Partial<WatchRule>, NamedSeries[], Record<string, Reading>]>([
    ["above the threshold", { threshold: { above: 500 } }, [{ name: "a", points: [at(100, 30_000), at(612.345, 10_000), at(null, 0)] }], { a: { kind: "breach", why: "612.3 > 500" } }],
    ["the newest point decides", { threshold: { above: 500 } }, [{ name: "a", points: [at(900, 30_000), at(20, 10_000)] }], { a: { kind: "ok", why: "20" } }],
    ["below", { threshold: { below: 0.99 } }, [{ name: "a", points: [at(0.5, 10_000)] }], { a: { kind: "breach", why: "0.5 < 0.99" } }],
    ["only nulls: no data", { threshold: { above: 1 } }, [{ name: "a", points: [at(null, 10_000)] }], { a: { kind: "nodata", why: "no points in the last 300s" } }],
    ["older than the lookback: no data", { threshold: { above: 1 } }, [{ name: "a", points: [at(5, 6 * MIN)] }], { a: { kind: "nodata", why: "no points in the last 300s" } }],
    [
      "outside the Holt-Winters band", { band: { kind: "holt-winters", delta: 3, bootstrap: 3600_000, seasonality: 600_000 } },
      [{ name: "a", points: [at(300, 10_000)] }, { name: "holtWintersConfidenceUpper(a)", points: [at(240, 10_000)] }, { name: "holtWintersConfidenceLower(a)", points: [at(180, 10_000)] }],
      { a: { kind: "breach", why: "300 outside the Holt-Winters band 180..240" } },
    ],
    [
      "inside the band", { band: { kind: "holt-winters", delta: 3, bootstrap: 3600_000, seasonality: 600_000 } },
      [{ name: "a", points: [at(200, 10_000)] }, { name: "holtWintersConfidenceUpper(a)", points: [at(240, 10_000)] }, { name: "holtWintersConfidenceLower(a)", points: [at(180, 10_000)] }],
      { a: { kind: "ok", why: "200 within the band 180..240" } },
    ],
    [
      "a value but no band yet", { band: { kind: "holt-winters", delta: 3, bootstrap: 3600_000, seasonality: 600_000 } },
      [{ name: "a", points: [at(200, 10_000)] }, { name: "holtWintersConfidenceUpper(a)", points: [at(null, 10_000)] }, { name: "holtWintersConfidenceLower(a)", points: [at(null, 10_000)] }],
      { a: { kind: "nodata", why: "no Holt-Winters band in the last 300s (too little history before it?)" } },
    ],
  ])("%s", (_, over, series, want) => {
    expect(Object.fromEntries(readings(r(over), series, T0))).toEqual(want);
  });

  it("asks Graphite for the target and, for a band, its holtWintersConfidenceBands with the bootstrap and seasonality in seconds", () => {
    expect(targetsOf({ target: "a.b" })).toEqual(["a.b"]);
    expect(targetsOf({ target: "a.*", band: { kind: "holt-winters", delta: 3, bootstrap: 7 * 86_400_000, seasonality: 86_400_000 } })).toEqual(["a.*", "holtWintersConfidenceBands(a.*,3,'604800s','86400s')"]);
  });
});

describe("the state machine (pure)", () => {
  const breach: Reading = { kind: "breach", why: "9 > 5" };
  const ok: Reading = { kind: "ok", why: "1" };
  const none: Reading = { kind: "nodata", why: "no points" };
  const run = (steps: Reading[], rule: { for: number; noData: "nodata" | "firing" }) => {
    let s: SeriesState = QUIET;
    return steps.map((r, i) => {
      s = advance(s, r, T0 + i * MIN, rule);
      return `${s.firing ? "firing" : s.breachSince !== null ? "pending" : "ok"}${s.nodata ? "+nodata" : s.nodataSince !== null ? "+nodata-pending" : ""}`;
    });
  };
  it.each<[string, Reading[], { for: number; noData: "nodata" | "firing" }, string[]]>([
    ["fires once the breach lasted `for`, resolves on the first good reading", [breach, breach, breach, ok], { for: 2 * MIN, noData: "nodata" }, ["pending", "pending", "firing", "ok"]],
    ["a blip shorter than `for` never fires", [breach, ok, breach, ok], { for: 2 * MIN, noData: "nodata" }, ["pending", "ok", "pending", "ok"]],
    ["for 0 fires at once", [breach], { for: 0, noData: "nodata" }, ["firing"]],
    ["no data keeps a firing alert firing and becomes NO DATA after `for`", [breach, breach, none, none, none, ok], { for: MIN, noData: "nodata" }, ["pending", "firing", "firing+nodata-pending", "firing+nodata", "firing+nodata", "ok"]],
    ["noData: firing counts no data as a breach", [none, none], { for: MIN, noData: "firing" }, ["pending", "firing"]],
  ])("%s", (_, steps, r, want) => {
    expect(run(steps, r)).toEqual(want);
  });
});

describe("the scheduler, through the store and the announcer", () => {
  let dir: string;
  let store: SqliteAlertStore;
  let clock: FakeClock;
  let graphite: FakeGraphite;
  let chat: FakeChat;
  let announcer: AlertAnnouncer;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "tugboat-watch-"));
    clock = new FakeClock(T0);
    store = new SqliteAlertStore(join(dir, "alerts.sqlite3"), () => new Date(clock.now()));
    graphite = new FakeGraphite();
    chat = new FakeChat();
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const watchFor = (config: Config, linker: DeployLinker | null = null) => {
    announcer = new AlertAnnouncer({
      store, chat, config: config.alerts, defaultChannels: ["#operations"], linker, alertsUrl: () => "https://bot.test/alerts",
      clock: { now: () => clock.now(), setInterval: () => null, clearInterval: () => undefined }, log: pino({ level: "silent" }),
    });
    announcer.tick(); // start-up: nothing pending
    return new GraphiteWatch({
      rules: config.alerts.watch, urlOf: (r) => r.url ?? config.metrics.graphite!.url, source: () => graphite,
      publish: (ns) => store.record(ns), firing: () => store.firing(), clock, log: pino({ level: "silent" }),
    });
  };
  /** One evaluation interval later: a round, then an announcement round; the lines it sent. */
  const step = async (watch: GraphiteWatch, ms = MIN) => {
    clock.advance(ms);
    await watch.round();
    const before = chat.sent.length;
    announcer.tick();
    return chat.sent.slice(before).map((l) => stripFormatting(l.text));
  };

  it("pending for `for`, then FIRING once, RESOLVED once; a window of lookback ending now", async () => {
    const watch = watchFor(configWith([rule({ labels: { team: "api" } })]));
    graphite.values({ "api.latency.p95": 612.345 });
    expect(await step(watch, 0)).toEqual([]);
    expect(graphite.calls[0]).toEqual({ targets: ["api.latency.p95"], from: T0 - 5 * MIN, to: T0 });
    expect(await step(watch)).toEqual([]); // pending: 1 minute of 2
    expect(await step(watch)).toEqual(["FIRING [warning] ApiLatency x1: p95 latency high: 612.3 > 500 - https://runbooks.test/latency"]);
    expect(store.firing()).toMatchObject([{ receiver: "watch", labels: { alertname: "ApiLatency", team: "api", severity: "warning" }, startsAt: new Date(T0).toISOString() }]);
    expect(await step(watch)).toEqual([]); // still firing: nothing new
    graphite.values({ "api.latency.p95": 200 });
    expect(await step(watch)).toEqual(["RESOLVED [warning] ApiLatency x1: p95 latency high: 200 - https://runbooks.test/latency"]);
    expect(store.firing()).toEqual([]);
    expect(await step(watch)).toEqual([]);
  });

  it("evaluates each rule on its own interval", async () => {
    const watch = watchFor(configWith([rule({ interval: "1m" }), rule({ name: "Slow", interval: "5m" })]));
    for (let i = 0; i < 10; i++) await step(watch, MIN);
    expect(graphite.calls.length).toBe(10 + 2);
  });

  it("asks Graphite at most 4 queries at a time", async () => {
    const watch = watchFor(configWith(Array.from({ length: 10 }, (_, i) => rule({ name: `R${i}` }))));
    await step(watch, 0);
    expect(graphite.calls.length).toBe(10);
    expect(graphite.maxInFlight).toBe(4);
  });

  it("a series that stops reporting is NO DATA after `for`, not OK; data again resolves it", async () => {
    const watch = watchFor(configWith([rule({ for: "2m" })]));
    graphite.values({ "api.latency.p95": 100 });
    expect(await step(watch, 0)).toEqual([]);
    graphite.answer = (to) => [{ name: "api.latency.p95", points: [{ t: to - 10 * MIN, v: 100 }, { t: to, v: null }] }];
    expect(await step(watch)).toEqual([]);
    expect(await step(watch)).toEqual([]);
    expect(await step(watch)).toEqual(["NO DATA [warning] ApiLatency x1: no points in the last 300s (since 12:01 UTC) - https://runbooks.test/latency"]);
    expect(await step(watch)).toEqual([]);
    // !alerts says so too: NO DATA is not counted as a breach.
    const alerts = new AlertsService(store, null, new SalService(new MemorySalStore(), testConfig().sal), () => new Date(clock.now()), () => "https://bot.test/alerts");
    expect(alerts.firing(null)).toEqual(["1 alert firing (https://bot.test/alerts):", "ApiLatency (NO DATA) x1 [warning] since 12:01 UTC"]);
    graphite.values({ "api.latency.p95": 100 });
    expect(await step(watch)).toEqual(["RESOLVED [warning] ApiLatency x1: data again: 100 - https://runbooks.test/latency"]);
  });

  it("a target that matches nothing is NO DATA too", async () => {
    const watch = watchFor(configWith([rule({ for: 0, target: "api.gone.*" })]));
    graphite.answer = () => [];
    expect(await step(watch, 0)).toEqual(["NO DATA [warning] ApiLatency x1: the target matches no series (since 12:00 UTC) - https://runbooks.test/latency"]);
  });

  it("an unreachable Graphite is one line for all its rules, never OK, repeated never; firing alerts stay firing", async () => {
    const watch = watchFor(configWith([rule({ for: 0 }), rule({ name: "Errors", severity: "critical" }), rule({ name: "Queue" })]));
    graphite.values({ "api.latency.p95": 900 });
    expect(await step(watch, 0)).toEqual(["FIRING [warning] ApiLatency x1: p95 latency high: 900 > 500 - https://runbooks.test/latency"]);
    graphite.answer = new MetricError("refused", "graphite", "connection refused");
    expect(await step(watch)).toEqual(["FIRING [critical] GraphiteWatchFailing x1: graphite: connection refused (since 12:01 UTC); not evaluated: ApiLatency, Errors, Queue"]);
    for (let i = 0; i < 5; i++) expect(await step(watch)).toEqual([]);
    expect(store.firing().map((a) => a.labels.alertname).sort()).toEqual(["ApiLatency", "GraphiteWatchFailing"]);
    graphite.answer = new MetricError("timeout", "graphite", "no answer within 10000 ms");
    expect(await step(watch)).toEqual([]); // a different failure of the same Graphite: the same alert
    graphite.values({ "api.latency.p95": 100 });
    const back = await step(watch);
    expect(back.sort()).toEqual(["RESOLVED [critical] GraphiteWatchFailing x1: Graphite answers again", "RESOLVED [warning] ApiLatency x1: p95 latency high: 100 - https://runbooks.test/latency"]);
  });

  it("a query Graphite refuses (4xx) is that rule's failure, not Graphite's", async () => {
    const watch = watchFor(configWith([rule({ for: 0, target: "nosuchFunction(a)" })]));
    graphite.answer = new MetricError("http", "graphite", "HTTP 400: unknown function nosuchFunction", { status: 400 });
    expect(await step(watch, 0)).toEqual(["FIRING [warning] GraphiteWatchFailing x1: rule ApiLatency: graphite: HTTP 400: unknown function nosuchFunction"]);
    // A 5xx is Graphite's own trouble: the rule's failure gives way to Graphite's.
    graphite.answer = new MetricError("http", "graphite", "HTTP 503: Service Unavailable", { status: 503 });
    expect(await step(watch)).toEqual(["FIRING [warning] GraphiteWatchFailing x1 (1 resolved): graphite: HTTP 503: Service Unavailable (since 12:01 UTC); not evaluated: ApiLatency"]);
  });

  it("several series: one alert each, instances compressed, labels from the rule; one resolving is news", async () => {
    const watch = watchFor(configWith([rule({ for: 0, target: "servers.*.load", instanceNode: 1, summary: "load high", labels: { team: "web" } })]));
    graphite.values({ "servers.web01.load": 700, "servers.web02.load": 800, "servers.web03.load": 1 });
    expect(await step(watch, 0)).toEqual(["FIRING [warning] ApiLatency x2 on web[01-02]: load high: 700 > 500 - https://runbooks.test/latency"]);
    expect(store.firing().map((a) => a.labels.instance).sort()).toEqual(["web01", "web02"]);
    graphite.values({ "servers.web01.load": 700, "servers.web02.load": 8, "servers.web03.load": 1 });
    expect(await step(watch)).toEqual(["FIRING [warning] ApiLatency x1 (1 resolved) on web01: load high: 700 > 500 - https://runbooks.test/latency"]);
  });

  it("routes by the rule's labels and names the deploy its app's labels point to, as for any alert", async () => {
    const journal = new DeployJournal(join(dir, "deploys.sqlite3"), () => new Date(T0 - 10 * MIN));
    const begun = journal.begin({ app: "api", kind: "deploy", ref: "main", fromSha: "abc1234aaaa", toSha: "def5678bbbb", reason: "T1", nick: "alice" });
    if (!begun.ok) throw new Error("no deploy");
    journal.finish(begun.deploy.id, "succeeded", "ok");
    const config = configWith([rule({ for: 0, labels: { service: "api" } })], {
      fleet: { transport: "local", hosts: [{ name: "web01" }] }, apps: { api: { repo: "/srv/repo", deployPath: "/srv/api", targets: ["web01"] } },
      alerts: { gatherMs: 0, appLabels: { api: { service: "api" } }, routes: [{ match: { service: "api" }, channels: ["#other"] }] },
    });
    const watch = watchFor(config, new DeployLinker(journal, 1800, config.alerts.appLabels));
    graphite.values({ "api.latency.p95": 900 });
    expect(await step(watch, 0)).toEqual(["FIRING [warning] ApiLatency x1: p95 latency high: 900 > 500 - https://runbooks.test/latency (started 10m after deploy #1 of api by alice: abc1234..def5678; !rollback api?)"]);
    expect(chat.sent.at(-1)!.target).toBe("#other");
    expect(store.deployAlerts(1)).toMatchObject([{ alertname: "ApiLatency", minutesAfter: 10 }]);
    journal.close();
  });

  it("after a restart, a firing alert is neither announced again nor forgotten", async () => {
    const config = configWith([rule({ for: 0 })]);
    const first = watchFor(config);
    graphite.values({ "api.latency.p95": 900 });
    expect(await step(first, 0)).toEqual(["FIRING [warning] ApiLatency x1: p95 latency high: 900 > 500 - https://runbooks.test/latency"]);
    const second = watchFor(config);
    expect(await step(second)).toEqual([]);
    graphite.values({ "api.latency.p95": 1 });
    expect(await step(second)).toEqual(["RESOLVED [warning] ApiLatency x1: p95 latency high: 1 - https://runbooks.test/latency"]);
    // A rule taken out of the config resolves what it left firing.
    graphite.values({ "api.latency.p95": 900 });
    await step(second);
    const third = watchFor(configWith([rule({ name: "Other" })]));
    graphite.values({ "api.latency.p95": 1 });
    expect(await step(third)).toContain("RESOLVED [warning] ApiLatency x1: the rule is no longer in the config - https://runbooks.test/latency");
  });
});

describe("watch rule config", () => {
  const parse = (watch: unknown[], graphite = true) => () =>
    parseConfigText(JSON.stringify({ ...(graphite ? { metrics: { graphite: { url: "http://g.test" } } } : {}), alerts: { watch } }), "test.json");
  it("defaults: for 5m, every 1m, lookback 5m, NO DATA as its own state; the band's Graphite defaults", () => {
    const w = parse([{ name: "A", target: "a", band: { kind: "holt-winters" } }])().alerts.watch[0]!;
    expect(w).toMatchObject({ for: 300_000, interval: 60_000, lookback: 300_000, noData: "nodata", severity: "warning", band: { delta: 3, bootstrap: 604_800_000, seasonality: 86_400_000 } });
  });
  it.each<[string, unknown[], boolean, RegExp]>([
    ["neither threshold nor band", [{ name: "A", target: "a" }], true, /give either threshold[\s\S]*alerts\.watch\[0\]\.threshold/],
    ["both", [{ name: "A", target: "a", threshold: { above: 1 }, band: { kind: "holt-winters" } }], true, /give either threshold/],
    ["a bad duration", [{ name: "A", target: "a", threshold: { above: 1 }, for: "5 minutes" }], true, /"5 minutes" is not a duration such as 30s[\s\S]*alerts\.watch\[0\]\.for/],
    ["a fractional delta", [{ name: "A", target: "a", band: { kind: "holt-winters", delta: 2.5 } }], true, /integer delta[\s\S]*alerts\.watch\[0\]\.band\.delta/],
    ["no Graphite", [{ name: "A", target: "a", threshold: { above: 1 } }], false, /no Graphite: set url here or metrics\.graphite\.url[\s\S]*alerts\.watch\[0\]\.url/],
    ["duplicate names", [{ name: "A", target: "a", threshold: { above: 1 } }, { name: "A", target: "b", threshold: { below: 1 } }], true, /duplicate watch rule "A"[\s\S]*alerts\.watch\[1\]\.name/],
    ["a deadline past the interval", [{ name: "A", target: "a", threshold: { above: 1 }, interval: "10s", timeoutMs: 20_000 }], true, /must be shorter than the interval \(10s\)[\s\S]*alerts\.watch\[0\]\.timeoutMs/],
  ])("%s is a clear error", (_, watch, graphite, message) => {
    expect(parse(watch, graphite)).toThrow(message);
  });
});
