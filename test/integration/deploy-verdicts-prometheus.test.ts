// Deploys judged by a real Prometheus: the whole bot (createApp, its real wiring) on a FakeChat, a local
// fleet of 4 hosts (real git, real release directories), and one small exporter per host that Prometheus
// scrapes every second. A host's error ratio is ~1%, or ~20% while its live release has the bug (a BUG
// file). v2 has the bug: the canary gate catches it and rolls back; a harmless v3 is OK; an app without
// a canary window ships the bug, the verdict after the deploy is WORSE and rolls back on its own; a
// stopped Prometheus is NO DATA, never OK.

import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../src/app.js";
import { parseConfigText } from "../../src/config/load.js";
import { buildFleet } from "../../src/fleet/build.js";
import { buildMetricAdapters } from "../../src/metrics/build.js";
import { BotMetrics } from "../../src/observability/bot-metrics.js";
import { buildWebServer } from "../../src/web/server.js";
import { FakeChat } from "../fakes/fake-chat.js";
import { MemorySalStore } from "../fakes/memory-sal-store.js";
import { TempDirs, UpstreamRepo } from "../fixtures/git-repos.js";
import { startPrometheus, type PrometheusServer } from "../servers/prometheus.js";
import { until } from "../support/bot.js";

const temp = new TempDirs();
const HOSTS = ["web1", "web2", "web3", "web4"];
let dataDir: string;
let upstream: UpstreamRepo;
let prometheus: PrometheusServer;
const exporters: Server[] = [];
let app: App;
let chat: FakeChat;
let store: MemorySalStore;
let botMetrics: BotMetrics;

/** Whether HOST's live release of any app carries the bug. */
const buggy = (host: string) => ["demo", "demo2"].some((a) => existsSync(join(dataDir, "fleet", host, "srv", a, "current", "BUG")));

beforeAll(async () => {
  dataDir = temp.make("tugboat-verdicts-");
  upstream = UpstreamRepo.create(temp.make("tugboat-upstream-"));
  upstream.commit({ "VERSION": "1\n" }, "v1");
  let seed = 1;
  const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 0.4 + 0.8; // 0.8..1.2
  const targets: Array<{ target: string; host: string }> = [];
  for (const host of HOSTS) {
    const server = createServer((_req, res) => {
      const ratio = (buggy(host) ? 0.2 : 0.01) * noise();
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(`# TYPE demo_error_ratio gauge\ndemo_error_ratio ${ratio}\n`);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    exporters.push(server);
    targets.push({ target: `127.0.0.1:${(server.address() as { port: number }).port}`, host });
  }
  prometheus = await startPrometheus({ scrape: targets, scrapeIntervalSec: 1 });
  const metric = { name: "error ratio", source: "prometheus", query: "avg(demo_error_ratio)", perHostQuery: 'max(demo_error_ratio{host="{host}"})', worse: "up", guardrail: { max: 0.05 } };
  const verdict = { windowMin: 0.05, stepSec: 1, settleSec: 2, minPoints: 3, onWorse: "rollback" };
  const config = parseConfigText(JSON.stringify({
    chat: "irc", irc: { host: "127.0.0.1", channels: ["#operations"] }, sal: { channels: { "#operations": {} } }, web: { port: 0 },
    metrics: { prometheus: { url: prometheus.url, timeoutMs: 2000 }, maxLagSec: 10 },
    fleet: { transport: "local", localRoot: join(dataDir, "fleet"), hosts: HOSTS.map((name) => ({ name })) },
    apps: {
      demo: { repo: upstream.dir, deployPath: "/srv/demo", targets: HOSTS, canaries: ["web1"], batchSize: 3, metrics: [metric], verdict: { ...verdict, canaryWindowMin: 0.05, canaryOnWorse: "rollback" } },
      demo2: { repo: upstream.dir, deployPath: "/srv/demo2", targets: HOSTS, canaries: ["web1"], batchSize: 3, metrics: [metric], verdict },
    },
  }), "test.json");
  const loaded = { config, secrets: { ircPassword: null, saslPassword: null, nickservPassword: null, apiTokens: [], sshPrivateKey: null }, source: "test" };
  const log = pino({ level: "silent" });
  chat = new FakeChat();
  store = new MemorySalStore();
  botMetrics = new BotMetrics();
  app = createApp({ loaded, chat, store, log, metrics: botMetrics, web: buildWebServer, fleet: buildFleet(loaded, dataDir, log, {}), metricAdapters: buildMetricAdapters(loaded) });
  await app.start();
  // A baseline before the first deploy: the verdict compares with as long before the deploy, so wait
  // until Prometheus holds more points than the window needs (its first scrapes can lag on a busy machine).
  await until(async () => {
    const now = Date.now() / 1000;
    const r = await fetch(`${prometheus.url}/api/v1/query_range?query=${encodeURIComponent("avg(demo_error_ratio)")}&start=${now - 30}&end=${now}&step=1`, { signal: AbortSignal.timeout(2000) });
    const body = (await r.json()) as { data?: { result?: Array<{ values: unknown[] }> } };
    return (body.data?.result?.[0]?.values.length ?? 0) >= 10;
  }, 60_000, "10 s of baseline in Prometheus");
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await prometheus?.close();
  for (const s of exporters) s.close();
  temp.removeAll();
});

const say = (text: string) => chat.deliver("#operations", text, { account: "alice" });
const lines = () => chat.lines("#operations");
const live = (host: string, a = "demo") => existsSync(join(dataDir, "fleet", host, "srv", a, "current", "BUG")) ? "bug" : "ok";
async function waitLine(re: RegExp, ms = 45_000): Promise<string> {
  await until(() => lines().some((l) => re.test(l)), ms, `a line matching ${re}`).catch((e: Error) => {
    throw new Error(`${e.message}; the channel said:\n${lines().join("\n")}`);
  });
  return lines().find((l) => re.test(l))!;
}
const salMessages = async () => (await store.search({ limit: 100 })).entries.map((e) => e.message);

describe("deploy verdicts against a real Prometheus", () => {
  it("v1: the canaries and the deploy are judged OK", async () => {
    await say("!deploy demo -- ship v1");
    expect(await waitLine(/^canary metrics for deploy #1 demo: /)).toBe("canary metrics for deploy #1 demo: OK (canaries vs other hosts: 1 OK of 1)");
    expect(await waitLine(/^metrics for deploy #1 demo /)).toMatch(/^metrics for deploy #1 demo nothing\.\.[0-9a-f]{7}: OK \(after vs before: 1 OK of 1\) http/);
  }, 60_000);

  it("v2 with the bug is caught at the canary gate and rolled back; the channel and the SAL say so with the numbers", async () => {
    upstream.commit({ "BUG": "yes\n", "VERSION": "2\n" }, "v2: the buggy one");
    await say("!deploy demo -- ship v2");
    const canary = await waitLine(/^canary metrics for deploy #2 demo: /);
    expect(canary).toBe("canary metrics for deploy #2 demo: WORSE (canaries vs other hosts: 1 WORSE of 1)");
    expect(await waitLine(/^error ratio WORSE /)).toMatch(/^error ratio WORSE 0\.0\d+ -> 0\.[12]\d* \(\+\d+%, p=[\d.e-]+, over the guardrail \(max 0\.05\)\)$/);
    expect(await waitLine(/^deploy #2 demo: canary metrics WORSE/)).toMatch(/: rolling back \(verdict\.canaryOnWorse: rollback\)$/);
    expect(await waitLine(/^deploy #2 demo .*: ROLLED BACK/)).toMatch(/ROLLED BACK on 1\/4 hosts in .*; web1 back on [0-9a-f]{7} /);
    expect(HOSTS.map((h) => live(h))).toEqual(["ok", "ok", "ok", "ok"]);
    const sal = await salMessages();
    expect(sal).toContainEqual(expect.stringMatching(/^Canary metrics for deploy #2 demo: WORSE \(canaries vs other hosts: 1 WORSE of 1\): error ratio WORSE 0\.0\d+ -> 0\.[12]/));
    expect(sal).toContainEqual(expect.stringMatching(/^Rolled back deploy demo [0-9a-f]{7}\.\.[0-9a-f]{7} after .*halted \(the gate after canaries said rollback\)/));
    expect((await store.search({ deployId: 2, limit: 10 })).entries.length).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it("v3 without the bug is OK at the gate and after the deploy", async () => {
    upstream.commit({ "BUG": null, "VERSION": "3\n" }, "v3: fixed");
    await say("!deploy demo -- ship v3");
    expect(await waitLine(/^canary metrics for deploy #3 demo: /)).toContain(": OK (");
    expect(await waitLine(/^metrics for deploy #3 demo /)).toMatch(/: OK \(after vs before: 1 OK of 1\)/);
    expect(HOSTS.map((h) => live(h))).toEqual(["ok", "ok", "ok", "ok"]);
  }, 60_000);

  it("without a canary window the bug ships; the verdict after the deploy is WORSE and rolls back on its own", async () => {
    upstream.commit({ "VERSION": "3.1\n" }, "v3.1");
    await say("!deploy demo2 -- ship v3");
    await waitLine(/^metrics for deploy #4 demo2 .*: OK/);
    upstream.commit({ "BUG": "yes\n" }, "v4: the bug again");
    await say("!deploy demo2 -- ship v4");
    await waitLine(/^deploy #5 demo2 .*: SUCCEEDED/);
    expect(HOSTS.map((h) => live(h, "demo2"))).toEqual(["bug", "bug", "bug", "bug"]);
    expect(await waitLine(/^metrics for deploy #5 demo2 /)).toMatch(/: WORSE \(after vs before: 1 WORSE of 1\)/);
    expect(await waitLine(/^rolling back demo2 automatically/)).toMatch(/^rolling back demo2 automatically \(verdict\.onWorse: rollback\): error ratio WORSE 0\.0\d+ -> 0\.[12]/);
    await waitLine(/^rolled back demo2 [0-9a-f]{7} -> [0-9a-f]{7} on 4\/4 hosts/);
    expect(HOSTS.map((h) => live(h, "demo2"))).toEqual(["ok", "ok", "ok", "ok"]);
    expect(await salMessages()).toContainEqual(expect.stringMatching(/^Rolled back demo2 to [0-9a-f]{7} on 4 hosts in .*: automatic: metrics WORSE after deploy #5 \(error ratio WORSE/));
    expect(botMetrics.value("tugboat_metric_verdicts_total", { app: "demo2", stage: "after", verdict: "WORSE" })).toBe(1);
  }, 90_000);

  it("a stopped Prometheus is NO DATA at the gate and after the deploy, never OK", async () => {
    await prometheus.stop();
    upstream.commit({ "VERSION": "5\n" }, "v5");
    await say("!deploy demo -- ship v5");
    expect(await waitLine(/^canary metrics for deploy #7 demo: /)).toBe("canary metrics for deploy #7 demo: NO DATA (canaries vs other hosts: 1 NO DATA of 1)");
    expect(await waitLine(/^error ratio NO DATA: canaries: prometheus: connection refused$/)).toBeTruthy();
    expect(await waitLine(/^metrics for deploy #7 demo /)).toMatch(/: NO DATA \(after vs before: 1 NO DATA of 1\)/);
    expect(lines().filter((l) => /^error ratio NO DATA: before: prometheus: connection refused$/.test(l))).toHaveLength(1);
  }, 60_000);
});
