// DeployMetrics on fakes: markers for deploys and rollbacks (a failing one counted, never fatal), the
// verdict after the window (WORSE -> recommend or roll back, OK, NO DATA said plainly for a failing,
// empty or lagging source), the SAL entry, and the canary gate (canaries vs the hosts not yet deployed).

import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { ConfigInput } from "../../src/config/schema.js";
import type { FinishedOperation } from "../../src/deploys/service.js";
import { DeployMetrics, VerdictBook } from "../../src/metrics/deploy-watch.js";
import { DeployMarkers } from "../../src/metrics/markers.js";
import type { Point } from "../../src/metrics/source.js";
import { SalService } from "../../src/sal/service.js";
import { BotMetrics } from "../../src/observability/bot-metrics.js";
import { FakeMetricSource } from "../fakes/fake-metric-source.js";
import { MemorySalStore } from "../fakes/memory-sal-store.js";
import { testConfig } from "../support/fake-services.js";

const MIN = 60_000;
const START = Date.parse("2026-11-26T12:00:00Z");
const END = START + 2 * MIN;

/** A series every 10 s from `from` to `to`: value(t). */
function series(from: number, to: number, value: (t: number, i: number) => number | null): Point[] {
  const out: Point[] = [];
  for (let t = from, i = 0; t <= to; t += 10_000, i++) out.push({ t, v: value(t, i) });
  return out;
}
const jitter = (i: number) => ((i * 7919) % 13) / 1300; // deterministic noise in [0, 0.01)

function setup(verdict: Record<string, unknown> = {}, metrics?: unknown[]) {
  const config = testConfig({
    fleet: { hosts: [{ name: "web1" }, { name: "web2" }, { name: "web3" }] },
    metrics: { graphite: { url: "http://127.0.0.1:1" }, prometheus: { url: "http://127.0.0.1:1" } },
    apps: {
      api: {
        repo: "/srv/repo", deployPath: "/srv/api", targets: ["web1", "web2", "web3"], canaries: ["web1"],
        metrics: (metrics ?? [
          { name: "error ratio", source: "prometheus", query: "errors", perHostQuery: 'errors{host="{host}"}', worse: "up", guardrail: { max: 0.05 } },
          { name: "latency", source: "graphite", query: "latency", unit: "ms", worse: "up" },
        ]) as never,
        verdict: { windowMin: 5, ...verdict } as never,
      },
    },
  } as ConfigInput);
  const prom = new FakeMetricSource("prometheus");
  const graphite = new FakeMetricSource("graphite");
  let now = END;
  const lines: string[] = [];
  const rollbacks: Array<[string, string]> = [];
  const store = new MemorySalStore(() => new Date(now));
  const sal = new SalService(store, config.sal);
  const botMetrics = new BotMetrics();
  const logs: string[] = [];
  const log = pino({ level: "info" }, { write: (s: string) => void logs.push(s) });
  const book = new VerdictBook();
  const watcher = new DeployMetrics({
    config, sources: { prometheus: prom, graphite }, book, sal, log,
    markers: new DeployMarkers([graphite], log, botMetrics.counter("tugboat_deploy_markers_total", "markers")),
    announce: (_c, text) => void lines.push(text),
    rollback: async (op, reason) => {
      rollbacks.push([op.app, reason]);
      return [`rolled back ${op.app} abc1234 -> 0123456 on 3/3 hosts in 1.2s`];
    },
    now: () => now,
    sleep: async (ms) => void (now += ms),
    deployUrl: (id) => `https://t/deploys/${id}`,
    graphsUrl: (app) => `https://t/graphs/${app}`,
    countVerdict: botMetrics.counter("tugboat_metric_verdicts_total", "verdicts"),
  });
  const op: FinishedOperation = {
    deployId: 12, app: "api", kind: "deploy", from: "0123456789", to: "abc1234def", nick: "alice", by: { nick: "alice", account: "alice", mask: "alice!a@h" },
    reason: "ship the fix", channel: "#operations", state: "succeeded", startedAt: START, finishedAt: END,
  };
  // Healthy history: errors ~1%, latency ~200 ms, from an hour before to 10 min after the deploy.
  const healthyErrors = series(START - 60 * MIN, END + 10 * MIN, (_t, i) => 0.01 + jitter(i) * 0.2);
  const latency = series(START - 60 * MIN, END + 10 * MIN, (_t, i) => 200 + jitter(i) * 1000);
  prom.set("errors", healthyErrors);
  graphite.set("latency", latency);
  return { watcher, prom, graphite, lines, rollbacks, store, book, botMetrics, op, logs, healthyErrors, latency, now: () => now };
}

const badAfter = (t: number, i: number) => (t >= END ? 0.08 + jitter(i) * 0.2 : 0.01 + jitter(i) * 0.2);

describe("the verdict after a deploy", () => {
  it("WORSE: the channel gets the verdict and the evidence, the SAL an entry on the deploy, and a recommendation", async () => {
    const s = setup();
    s.prom.set("errors", series(START - 60 * MIN, END + 10 * MIN, badAfter));
    s.watcher.finished(s.op);
    await s.watcher.settle();
    expect(s.lines[0]).toBe("metrics: judging api #12 at 12:07 UTC (5 min after vs before) https://t/graphs/api");
    expect(s.lines[1]).toBe("metrics for deploy #12 api 0123456..abc1234: WORSE (after vs before: 1 WORSE, 1 OK of 2) https://t/deploys/12");
    expect(s.lines[2]).toMatch(/^error ratio WORSE 0\.0109 -> 0\.0809 \(\+64\d%, p=\de-\d+, over the guardrail \(max 0\.05\)\)$/);
    expect(s.lines[3]).toMatch(/^alice: deploy #12 made api worse \(error ratio WORSE .*\): recommend !rollback api -- metrics worse after #12$/);
    expect(s.rollbacks).toEqual([]);
    const entries = (await s.store.search({ deployId: 12, limit: 10 })).entries;
    expect(entries.map((e) => e.message)).toEqual([expect.stringMatching(/^Metrics after deploy #12 api 0123456\.\.abc1234: WORSE \(after vs before: 1 WORSE, 1 OK of 2\): error ratio WORSE /)]);
    expect(s.book.get(12)[0]).toMatchObject({ stage: "after", action: "recommended !rollback api", verdict: { overall: "WORSE" } });
    // The windows: after = [end + 30 s to settle, then 5 min], before = [start - 5 min, start].
    const settle = 30_000;
    expect(s.prom.queries.map((q) => [q.from, q.to])).toEqual(expect.arrayContaining([[START - 5 * MIN, START], [END + settle, END + settle + 5 * MIN]]));
    expect(s.botMetrics.value("tugboat_metric_verdicts_total", { app: "api", stage: "after", verdict: "WORSE" })).toBe(1);
  });

  it("WORSE with onWorse: rollback rolls back, and says why in the channel and the rollback's reason", async () => {
    const s = setup({ onWorse: "rollback" });
    s.prom.set("errors", series(START - 60 * MIN, END + 10 * MIN, badAfter));
    s.watcher.finished(s.op);
    await s.watcher.settle();
    expect(s.lines).toContainEqual(expect.stringMatching(/^rolling back api automatically \(verdict\.onWorse: rollback\): error ratio WORSE 0\.0109 -> 0\.0809/));
    expect(s.lines.at(-1)).toBe("rolled back api abc1234 -> 0123456 on 3/3 hosts in 1.2s");
    expect(s.rollbacks).toEqual([["api", expect.stringMatching(/^automatic: metrics WORSE after deploy #12 \(error ratio WORSE 0\.0109 -> 0\.0809/)]]);
  });

  it("OK when nothing changed; nothing is recommended", async () => {
    const s = setup({ onWorse: "rollback" });
    s.watcher.finished(s.op);
    await s.watcher.settle();
    expect(s.lines[1]).toBe("metrics for deploy #12 api 0123456..abc1234: OK (after vs before: 2 OK of 2) https://t/deploys/12");
    expect(s.lines).toHaveLength(2);
    expect(s.rollbacks).toEqual([]);
  });

  it("a failing source is NO DATA with the reason, never OK, and never a rollback", async () => {
    const s = setup({ onWorse: "rollback" });
    s.prom.fail("refused");
    s.watcher.finished(s.op);
    await s.watcher.settle();
    expect(s.lines[1]).toBe("metrics for deploy #12 api 0123456..abc1234: NO DATA (after vs before: 1 NO DATA, 1 OK of 2) https://t/deploys/12");
    expect(s.lines[2]).toBe("error ratio NO DATA: before: prometheus: connection refused");
    expect(s.rollbacks).toEqual([]);
  });

  it("an empty series and a lagging one are NO DATA, said plainly", async () => {
    const s = setup();
    s.prom.set("errors", []);
    s.graphite.set("latency", s.latency.filter((p) => p.t <= END + 2 * MIN)); // the window ends at END + 30 s + 5 min
    s.watcher.finished(s.op);
    await s.watcher.settle();
    expect(s.lines[1]).toContain(": NO DATA (after vs before: 2 NO DATA of 2)");
    expect(s.lines[2]).toBe("error ratio NO DATA: before: prometheus: no series for errors");
    expect(s.lines[3]).toBe("latency NO DATA: after: graphite: lagging, the newest point is 210s older than the window's end");
  });

  it("too few points after is NO DATA", async () => {
    const s = setup();
    s.graphite.set("latency", s.latency.filter((p) => p.t <= END + 40_000 || p.t > END + 5 * MIN - 20_000));
    s.watcher.finished(s.op);
    await s.watcher.settle();
    expect(s.lines[2]).toBe("latency NO DATA: too few points: 7 points after (need 10)");
  });

  it("failed deploys and rollbacks are marked but not judged", async () => {
    const s = setup();
    s.watcher.finished({ ...s.op, state: "rolled-back" });
    s.watcher.finished({ ...s.op, deployId: 13, kind: "rollback", from: "abc1234def", to: "0123456789", reason: "undo" });
    await s.watcher.settle();
    expect(s.lines).toEqual([]);
    expect(s.graphite.marked).toEqual([
      { what: "deploy api #12", tags: ["deploy", "api"], when: START, data: "0123456..abc1234 by alice (rolled-back): ship the fix" },
      { what: "rollback api #13", tags: ["deploy", "api", "rollback"], when: START, data: "abc1234..0123456 by alice (succeeded): undo" },
    ]);
  });

  it("a failing marker is logged and counted, and the verdict still comes", async () => {
    const s = setup();
    s.graphite.failMarkers("timeout", "no answer within 10000 ms");
    s.watcher.finished(s.op);
    await s.watcher.settle();
    expect(s.botMetrics.value("tugboat_deploy_markers_total", { target: "graphite", outcome: "timeout" })).toBe(1);
    expect(s.logs.some((l) => l.includes("deploy marker failed (the deploy is not affected)"))).toBe(true);
    expect(s.lines[1]).toContain(": OK (after vs before");
  });
});

describe("the canary gate", () => {
  const canaryBad = (host: string) => (_t: number, i: number) => (host === "web1" ? 0.09 : 0.01) + jitter(i) * 0.2;
  function perHost(s: ReturnType<typeof setup>, value: (host: string) => (t: number, i: number) => number) {
    for (const h of ["web1", "web2", "web3"]) s.prom.set(`errors{host="${h}"}`, series(END - 60 * MIN, END + 10 * MIN, value(h)));
  }
  const q = (signal = new AbortController().signal) => ({ deployId: 12, app: "api", nick: "alice", channel: "#operations", canaries: ["web1"], others: ["web2", "web3"], signal });

  it("is not asked when the app has no canary window", async () => {
    const s = setup();
    expect(await s.watcher.canaryGate(q())).toBeNull();
    expect(s.lines).toEqual([]);
  });

  it("WORSE canaries against the hosts not yet deployed: an objection to ask about, with the evidence", async () => {
    const s = setup({ canaryWindowMin: 2 });
    perHost(s, canaryBad);
    const opinion = await s.watcher.canaryGate(q());
    expect(opinion).toEqual({ rollback: false, why: expect.stringMatching(/^canary metrics WORSE: error ratio WORSE 0\.0109 -> 0\.0909 \(/) });
    expect(s.lines[0]).toBe("metrics: judging the canaries of api #12 (web1) against 2 other hosts for 2 min, from 30 s after the switch");
    // The window starts when the metrics have settled (30 s by default), not at the switch.
    expect(s.prom.queries.map((q) => [q.from, q.to])).toContainEqual([END + 30_000, END + 30_000 + 2 * MIN]);
    expect(s.lines[1]).toBe("canary metrics for deploy #12 api: WORSE (canaries vs other hosts: 1 WORSE of 1)");
    expect((await s.store.search({ deployId: 12, limit: 5 })).entries[0]?.message).toMatch(/^Canary metrics for deploy #12 api: WORSE/);
  });

  it("canaryOnWorse: rollback objects with a rollback; healthy canaries say nothing against", async () => {
    const s = setup({ canaryWindowMin: 2, canaryOnWorse: "rollback" });
    perHost(s, canaryBad);
    expect((await s.watcher.canaryGate(q()))?.rollback).toBe(true);
    const ok = setup({ canaryWindowMin: 2, canaryOnWorse: "rollback" });
    perHost(ok, () => (_t, i) => 0.01 + jitter(i) * 0.2);
    expect(await ok.watcher.canaryGate(q())).toBeNull();
    expect(ok.lines[1]).toBe("canary metrics for deploy #12 api: OK (canaries vs other hosts: 1 OK of 1)");
  });
});
