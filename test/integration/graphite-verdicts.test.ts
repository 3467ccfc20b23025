// The judge and the markers against a real Graphite (carbon-cache + graphite-web): history backfilled
// with timestamped plaintext lines, a deploy judged WORSE and another OK from it, a lagging series NO
// DATA, deploy markers written as Graphite events and read back, and a Grafana-style annotation
// target that refuses counted without failing anything.

import { createServer } from "node:http";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MetricConfig, VerdictConfig } from "../../src/config/schema.js";
import { GrafanaAnnotator } from "../../src/metrics/grafana.js";
import { GraphiteSource } from "../../src/metrics/graphite.js";
import { DeployMarkers } from "../../src/metrics/markers.js";
import { beforeAfter } from "../../src/metrics/verdict.js";
import { BotMetrics } from "../../src/observability/bot-metrics.js";
import { freePort } from "../servers/daemon.js";
import { startGraphite, type GraphiteServer } from "../servers/graphite.js";

const MIN = 60_000;
const STEP = 10_000;
// Two deploys in the past hour: #1 at T1 (errors from 1% to 6%), #2 at T2 (no change in latency).
const T1 = Math.floor(Date.now() / STEP) * STEP - 50 * MIN;
const T2 = T1 + 25 * MIN;
const verdict: VerdictConfig = { windowMin: 5, onWorse: "recommend", canaryWindowMin: 0, canaryOnWorse: "ask", tolerance: 0.25, confidence: 0.99, minPoints: 10, stepSec: 10, settleSec: 30 };
const errors: MetricConfig = { name: "error ratio", source: "graphite", query: "sumSeries(demo.*.errors)", unit: "", worse: "up", guardrail: { max: 0.05 } };
const latency: MetricConfig = { name: "latency", source: "graphite", query: "demo.latency", unit: "ms", worse: "up" };
const noise = (i: number) => ((i * 7919) % 13) / 13; // 0..1, deterministic

let graphite: GraphiteServer;
let source: GraphiteSource;

beforeAll(async () => {
  graphite = await startGraphite();
  const lines: Array<[string, number, number]> = [];
  for (let t = T1 - 15 * MIN, i = 0; t <= T2 + 10 * MIN; t += STEP, i++) {
    lines.push(["demo.web1.errors", (t >= T1 ? 0.06 : 0.01) * (0.8 + 0.4 * noise(i)), t]);
    lines.push(["demo.latency", 200 + 20 * noise(i + 3), t]);
  }
  await graphite.backfill(lines);
  source = new GraphiteSource({ url: graphite.url, timeoutMs: 10_000 });
}, 240_000);

afterAll(async () => {
  await graphite?.stop();
});

const win = (from: number, to: number) => ({ from, to });

describe("verdicts from a real Graphite", () => {
  it("deploy #1 made the error ratio WORSE, with the numbers", async () => {
    const v = await beforeAfter([errors], { graphite: source }, win(T1 - 5 * MIN, T1), win(T1 + STEP, T1 + 5 * MIN), verdict, 120);
    expect(v.overall).toBe("WORSE");
    expect(v.metrics[0]).toMatchObject({ verdict: "WORSE", baseline: { n: 31 }, candidate: { n: 30 } });
    expect(v.metrics[0]!.why).toMatch(/^over the guardrail \(max 0\.05\); p=/);
  });

  it("deploy #2 left latency unchanged: OK", async () => {
    const v = await beforeAfter([latency], { graphite: source }, win(T2 - 5 * MIN, T2), win(T2 + STEP, T2 + 5 * MIN), verdict, 120);
    expect(v.overall).toBe("OK");
  });

  it("a window past the newest point is NO DATA (lagging), and an unknown target is NO DATA (no series)", async () => {
    const lag = await beforeAfter([latency], { graphite: source }, win(T2 - 5 * MIN, T2), win(T2 + 8 * MIN, T2 + 13 * MIN), verdict, 120);
    expect(lag.metrics[0]).toMatchObject({ verdict: "NO DATA", why: "after: graphite: lagging, the newest point is 180s older than the window's end" });
    const none = await beforeAfter([{ ...latency, query: "demo.nothing" }], { graphite: source }, win(T2 - 5 * MIN, T2), win(T2, T2 + 5 * MIN), verdict, 120);
    expect(none.metrics[0]).toMatchObject({ verdict: "NO DATA", why: "before: graphite: no series for demo.nothing" });
  });
});

describe("deploy markers on a real Graphite", () => {
  it("a deploy and a rollback become events tagged deploy and the app; a failing annotation target is counted, not fatal", async () => {
    const metrics = new BotMetrics();
    const count = metrics.counter("tugboat_deploy_markers_total", "markers");
    const closed = await freePort();
    const grafana = new GrafanaAnnotator({ url: `http://127.0.0.1:${closed}`, token: "t", timeoutMs: 500 });
    const markers = new DeployMarkers([source, grafana], pino({ level: "silent" }), count);
    await markers.mark({ app: "demo", kind: "deploy", deployId: 1, from: "0123456789", to: "abcdef0123", nick: "alice", reason: "ship v2", state: "succeeded", when: T1 });
    await markers.mark({ app: "demo", kind: "rollback", deployId: 2, from: "abcdef0123", to: "0123456789", nick: "alice", reason: "automatic: metrics WORSE", state: "succeeded", when: T1 + 6 * MIN });
    const events = await source.markers(T1 - MIN, T1 + 10 * MIN, ["deploy", "demo"]);
    expect(events).toEqual([
      { what: "deploy demo #1", tags: ["deploy", "demo"], when: T1, data: "0123456..abcdef0 by alice (succeeded): ship v2" },
      { what: "rollback demo #2", tags: ["deploy", "demo", "rollback"], when: T1 + 6 * MIN, data: "abcdef0..0123456 by alice (succeeded): automatic: metrics WORSE" },
    ]);
    expect(metrics.value("tugboat_deploy_markers_total", { target: "graphite", outcome: "ok" })).toBe(2);
    expect(metrics.value("tugboat_deploy_markers_total", { target: "grafana", outcome: "refused" })).toBe(2);
    expect(metrics.render()).toContain('tugboat_deploy_markers_total{outcome="refused",target="grafana"} 2');
  });
});

// Grafana is not packaged in Debian: its annotation API is exercised against a loopback HTTP server that
// records what the adapter sends and answers as Grafana does (200, or 401 with {"message"}).
describe("Grafana annotations (a recording HTTP server standing in for Grafana)", () => {
  it("POSTs /api/annotations with the token, time in ms, tags and text; a 401 is reported with Grafana's message", async () => {
    const seen: Array<{ url: string; auth: string; body: unknown }> = [];
    let status = 200;
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c)).on("end", () => {
        seen.push({ url: req.url ?? "", auth: req.headers.authorization ?? "", body: JSON.parse(body) });
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(status === 200 ? { id: 1, message: "Annotation added" } : { message: "Invalid API key" }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    const g = new GrafanaAnnotator({ url, token: "secret-token", timeoutMs: 2000 });
    await g.mark({ what: "deploy demo #1", tags: ["deploy", "demo"], when: T1, data: "0123456..abcdef0 by alice (succeeded): ship v2" });
    expect(seen).toEqual([{ url: "/api/annotations", auth: "Bearer secret-token", body: { time: T1, tags: ["deploy", "demo"], text: "deploy demo #1: 0123456..abcdef0 by alice (succeeded): ship v2" } }]);
    status = 401;
    await expect(g.mark({ what: "x", tags: [], when: T1, data: "" })).rejects.toMatchObject({ kind: "http", message: "grafana: HTTP 401: Invalid API key" });
    await new Promise((r) => server.close(r));
  });
});
