// !graphs and the graph page on a fake source: sparklines with deploy marks, the value now and the change,
// per-metric failures said as such, argument errors, and the SVG page with its deploy markers.

import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { graphs as graphsCommand } from "../../commands/graphs.js";
import type { CommandContext, Services } from "../../src/chat/command.js";
import { SalService } from "../../src/sal/service.js";
import { Acl } from "../../src/chat/acl.js";
import { UserError } from "../../src/errors.js";
import { graphLine, loadGraphs, parseWindow, sparkline, type GraphsPort } from "../../src/metrics/graphs.js";
import type { Point } from "../../src/metrics/source.js";
import { renderGraphPage, renderVerdicts } from "../../src/web/graph-pages.js";
import { ReplyPages } from "../../src/web/reply-pages.js";
import { buildWebServer } from "../../src/web/server.js";
import { FakeMetricSource } from "../fakes/fake-metric-source.js";
import { MemorySalStore } from "../fakes/memory-sal-store.js";
import { testConfig } from "../support/fake-services.js";

const H = 3_600_000;
const TO = Date.parse("2026-11-26T12:00:00Z");
const FROM = TO - H;
const pts = (f: (i: number) => number | null, n = 360): Point[] => Array.from({ length: n }, (_, i) => ({ t: FROM + i * 10_000, v: f(i) }));

describe("parseWindow", () => {
  it.each([["30m", 1_800_000], ["6h", 21_600_000], ["2d", 172_800_000], ["7d", 604_800_000], ["8d", null], ["0h", null], ["1w", null], ["h", null], ["1.5h", null]])("%s -> %s", (w, ms) => {
    expect(parseWindow(w)).toBe(ms);
  });
});

describe("sparkline", () => {
  it("scales the window into 8 levels, a gap is a space, a deploy a | before its cell", () => {
    const p = pts((i) => (i >= 180 && i < 225 ? null : i < 180 ? 1 : 8));
    expect(sparkline(p, FROM, TO, [FROM + 0.75 * H], 8)).toBe("▁▁▁▁ █|██");
    expect(sparkline(pts(() => 5), FROM, TO, [], 4)).toBe("▄▄▄▄");
  });
});

const config = testConfig({
  fleet: { hosts: [{ name: "web1" }] },
  metrics: { prometheus: { url: "http://127.0.0.1:1" }, graphite: { url: "http://127.0.0.1:1" } },
  apps: {
    api: {
      repo: "/r", deployPath: "/srv/api", targets: ["web1"],
      metrics: [
        { name: "error ratio", source: "prometheus", query: "errors", worse: "up" },
        { name: "latency", source: "graphite", query: "latency", unit: "ms", worse: "up" },
      ],
    },
    quiet: { repo: "/r", deployPath: "/srv/q", targets: ["web1"] },
  },
});

function world() {
  const prom = new FakeMetricSource("prometheus").set("errors", pts((i) => (i < 240 ? 0.01 : 0.04)));
  const graphite = new FakeMetricSource("graphite");
  graphite.fail("timeout", "no answer within 10000 ms");
  const deploys = [{ id: 7, kind: "deploy", at: FROM + 40 * 60_000, state: "succeeded" }, { id: 8, kind: "rollback", at: FROM + 50 * 60_000, state: "succeeded" }];
  const port: GraphsPort = {
    load: (app, ms) => {
      const cfg = config.apps[app];
      if (!cfg?.metrics.length) throw new UserError(`${app} has no metrics`);
      return loadGraphs(app, cfg, { prometheus: prom, graphite }, deploys, TO - ms, TO);
    },
    url: (app, w) => `https://t/graphs/${app}${w ? `?window=${w}` : ""}`,
    dashboards: [{ name: "Grafana", url: "https://grafana.example/d/api" }],
  };
  return { prom, graphite, port, deploys };
}

function ctx(port: GraphsPort | null): CommandContext {
  const services: Services = { config, sal: new SalService(new MemorySalStore(), config.sal), links: { entry: () => "", home: () => "", help: () => "", diff: () => "" }, commands: [], deploys: null, acl: new Acl(config), graphs: port };
  return { sender: { nick: "alice", user: "a", host: "h", account: null }, channel: "#operations", requestId: "r1", log: pino({ level: "silent" }), signal: new AbortController().signal, services };
}

describe("!graphs", () => {
  it("one line per metric: sparkline with deploy marks, value now, change; failures as what they are; the link", async () => {
    const w = world();
    const reply = await graphsCommand.execute(ctx(w.port), "api 1h");
    expect(reply.lines.slice(1)).toEqual(["latency: graphite: no answer within 10000 ms", "https://t/graphs/api?window=1h (| = deploy #7, rollback #8)"]);
    // 24 cells of 2.5 min: the rise at 40 min starts cell 16, where deploy #7 is marked; #8 at 50 min marks cell 20.
    expect(reply.lines[0]).toBe("error ratio ▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁▁|████|████ now 0.04 (+300% over 1h)");
    expect(w.prom.queries[0]).toMatchObject({ query: "errors", from: TO - H, to: TO, stepSec: 12 });
  });

  it("the window defaults to 1h; bad arguments and apps are answered plainly", async () => {
    const w = world();
    expect((await graphsCommand.execute(ctx(w.port), "api")).lines.at(-1)).toMatch(/window=1h/);
    await expect(graphsCommand.execute(ctx(w.port), "api 9d")).rejects.toThrow("window: a window such as 30m, 6h or 2d (at most 7d) (usage: !graphs APP [WINDOW])");
    await expect(graphsCommand.execute(ctx(w.port), "api 1h extra")).rejects.toThrow("expected !graphs APP [WINDOW]");
    await expect(graphsCommand.execute(ctx(w.port), "quiet")).rejects.toThrow("quiet has no metrics");
    await expect(graphsCommand.execute(ctx(null), "api")).rejects.toThrow(/^no metric source is configured/);
  });
});

describe("the graph page", () => {
  it("draws an SVG chart per metric with the deploys as linked marks, the failure in words, dashboards", async () => {
    const w = world();
    const g = await w.port.load("api", H);
    const html = renderGraphPage(g, "1h", ["1h", "6h"], w.port.dashboards, "https://t");
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html).toMatch(/<polyline points="[\d., ]+" class="line"\/>/);
    expect(html).toContain('<a href="/deploys/7"><line');
    expect(html).toContain('class="mark rollback"><title>rollback #8 at 11:50 UTC (succeeded)</title>');
    expect(html).toContain('class="nodata">graphite: no answer within 10000 ms</text>');
    expect(html).toContain('<a href="https://grafana.example/d/api">Grafana</a>');
    expect(html).toContain("<strong>1h</strong> · <a href=\"/graphs/api?window=6h\">6h</a>");
  });

  it("the deploy page's metrics section lists each verdict with its lines and what was done", () => {
    const html = renderVerdicts("api", [{
      deployId: 7, app: "api", stage: "after", at: "2026-11-26T12:07:10.000Z", action: "rolled back automatically", windows: { baseline: [0, 1], candidate: [2, 3] },
      verdict: { overall: "WORSE", compared: "after vs before", metrics: [{ name: "error ratio", unit: "", verdict: "WORSE", baseline: { n: 30, mean: 0.01, median: 0.01 }, candidate: { n: 30, mean: 0.04, median: 0.04 }, change: 3, p: 1e-6, why: "p=1.0e-6, +300% (tolerance 25%)" }] },
    }], true, Date.now() - 60_000, "https://t");
    expect(html).toContain("<strong>After the deploy: WORSE</strong>");
    expect(html).toContain("12:07:10 UTC; rolled back automatically");
    expect(html).toContain("<li>error ratio WORSE 0.01 -&gt; 0.04 (+300%, p=1e-6)");
    expect(html).toContain('<a href="/graphs/api?window=1h">Graphs of api</a>');
  });
});

describe("GET /graphs/APP", () => {
  const web = (port: GraphsPort | null) => {
    const sal = new SalService(new MemorySalStore(), config.sal);
    return buildWebServer({
      config, baseUrl: "https://t", sal, apiTokens: [], commands: [], replies: new ReplyPages("https://t"), log: pino({ level: "silent" }), metrics: () => "",
      health: () => ({ irc: { connected: true, nick: "tugboat", queueDepth: 0 } }), defaultChannel: "#operations", graphs: port,
    });
  };

  it("serves the page (default window 6h), refuses a bad window or app with the reason", async () => {
    const w = world();
    const server = web(w.port);
    const ok = await server.inject({ url: "/graphs/api" });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain("<h1>api: metrics over 6h</h1>");
    expect(w.prom.queries[0]).toMatchObject({ from: TO - 6 * H, to: TO });
    const bad = await server.inject({ url: "/graphs/api?window=10y" });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain("a window such as 30m, 6h or 2d (at most 7d)");
    const quiet = await server.inject({ url: "/graphs/quiet" });
    expect(quiet.statusCode).toBe(404);
    expect(quiet.body).toContain("quiet has no metrics");
    const none = await web(null).inject({ url: "/graphs/api" });
    expect(none.statusCode).toBe(404);
    expect(none.body).toContain("No metric source is configured");
    await server.close();
  });
});
