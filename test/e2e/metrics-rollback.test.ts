// End to end over the real sshd fleet: the deployed release runs a small demo service on each host
// (node, listening on the host's own address) that counts requests and errors; version 2 has a bug that
// fails 30% of requests. Traffic runs against every host; a real Prometheus scrapes each one. The bot
// (createApp with its real wiring, on a FakeChat) deploys v2: the canary gate catches it and rolls
// back, and the channel and the SAL say so with the numbers. v3 is judged OK. A stopped Prometheus is
// NO DATA, not OK.

import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
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
import { startFleet, type Fleet } from "../servers/fleet.js";
import { startPrometheus, type PrometheusServer } from "../servers/prometheus.js";
import { until } from "../support/bot.js";

// The demo service: GET / answers 200, or 500 for 30% of requests when the release has a BUG file;
// GET /metrics exposes the counters. Started by the app's restart command from the live release.
const SERVICE = `
const http = require("node:http");
const fs = require("node:fs");
const [address, port] = process.argv.slice(2);
const buggy = fs.existsSync("BUG");
let requests = 0, errors = 0, n = 0;
http.createServer((req, res) => {
  if (req.url === "/metrics") return res.end("# TYPE demo_requests_total counter\\ndemo_requests_total " + requests + "\\n# TYPE demo_errors_total counter\\ndemo_errors_total " + errors + "\\n");
  requests++;
  if (buggy && (n++ % 10) < 3) { errors++; res.statusCode = 500; return res.end("bug\\n"); }
  res.end("ok\\n");
}).listen(Number(port), address, () => fs.writeFileSync("/srv/deployment/demo.ready", String(process.pid)));
`;
// Kills the previous release's service, starts this one detached on this host's address, and waits
// until it listens (it writes its pid to demo.ready then).
const RESTART = [
  'kill "$(cat /srv/deployment/demo.pid 2>/dev/null)" 2>/dev/null; sleep 0.3',
  'setsid nohup /usr/bin/node server.cjs "$(cat /srv/demo-address)" "$(cat /srv/demo-port)" </dev/null >/dev/null 2>&1 & pid=$!; echo $pid > /srv/deployment/demo.pid',
  'i=0; while [ "$(cat /srv/deployment/demo.ready 2>/dev/null)" != "$pid" ]; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done',
].join("; ");

const temp = new TempDirs();
let fleet: Fleet;
let prometheus: PrometheusServer;
let upstream: UpstreamRepo;
let app: App;
let chat: FakeChat;
let store: MemorySalStore;
let traffic: NodeJS.Timeout | undefined;
let port = 0;

beforeAll(async () => {
  fleet = await startFleet({ hosts: 4 });
  port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, fleet.hosts[0]!.address, () => {
      const p = (probe.address() as { port: number }).port;
      probe.close(() => resolve(p));
    });
  });
  for (const h of fleet.hosts) {
    writeFileSync(join(h.srv, "demo-address"), h.address);
    writeFileSync(join(h.srv, "demo-port"), String(port));
  }
  prometheus = await startPrometheus({ scrape: fleet.hosts.map((h) => ({ target: `${h.address}:${port}`, host: h.name })), scrapeIntervalSec: 1 });
  upstream = UpstreamRepo.create(temp.make("tugboat-upstream-"));
  upstream.commit({ "server.cjs": SERVICE, VERSION: "1\n" }, "v1");
  const dataDir = temp.make("tugboat-e2e-metrics-");
  const ratio = (sel: string) => `sum(rate(demo_errors_total${sel}[4s])) / sum(rate(demo_requests_total${sel}[4s]))`;
  const config = parseConfigText(JSON.stringify({
    chat: "irc", irc: { host: "127.0.0.1", channels: ["#operations"] }, sal: { channels: { "#operations": {} } }, web: { port: 0 },
    metrics: { prometheus: { url: prometheus.url, timeoutMs: 3000 }, maxLagSec: 10 },
    fleet: { transport: "ssh", ssh: { user: fleet.user, privateKey: { file: fleet.privateKeyPath }, knownHosts: fleet.knownHostsPath }, hosts: fleet.hosts.map((h) => ({ name: h.name, address: h.address, port: h.port })) },
    apps: {
      demo: {
        repo: upstream.dir, deployPath: "/srv/deployment/demo", targets: fleet.hosts.map((h) => h.name), canaries: ["web01"], batchSize: 3, restart: RESTART,
        smoke: [{ url: `http://{address}:${port}/metrics`, status: 200 }],
        metrics: [{ name: "error ratio", source: "prometheus", query: ratio(""), perHostQuery: ratio('{host="{host}"}'), worse: "up", guardrail: { max: 0.05 } }],
        verdict: { windowMin: 0.1, canaryWindowMin: 0.1, canaryOnWorse: "rollback", onWorse: "rollback", stepSec: 1, settleSec: 2, minPoints: 3 },
      },
    },
  }), "test.json");
  const loaded = { config, secrets: { ircPassword: null, saslPassword: null, nickservPassword: null, apiTokens: [], sshPrivateKey: readFileSync(fleet.privateKeyPath, "utf8") }, source: "test" };
  const log = pino({ level: "silent" });
  chat = new FakeChat();
  store = new MemorySalStore();
  app = createApp({ loaded, chat, store, log, metrics: new BotMetrics(), web: buildWebServer, fleet: buildFleet(loaded, dataDir, log, {}), metricAdapters: buildMetricAdapters(loaded) });
  await app.start();
  // Traffic: ~40 requests a second spread over the hosts (refused while a host runs nothing yet).
  let i = 0;
  traffic = setInterval(() => {
    const h = fleet.hosts[i++ % fleet.hosts.length]!;
    fetch(`http://${h.address}:${port}/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.arrayBuffer(), () => undefined);
  }, 25);
}, 180_000);

afterAll(async () => {
  clearInterval(traffic);
  await app?.stop();
  await prometheus?.close();
  await fleet?.stop();
  temp.removeAll();
});

const say = (text: string) => chat.deliver("#operations", text, { account: "alice" });
const lines = () => chat.lines("#operations");
async function waitLine(re: RegExp, ms = 60_000): Promise<string> {
  await until(() => {
    const bad = lines().find((l) => /the canaries failed|could not run/.test(l));
    if (bad) throw new Error(`the deploy went wrong: ${bad}`);
    return lines().some((l) => re.test(l));
  }, ms, `a line matching ${re}`).catch((e: Error) => {
    throw new Error(`${e.message}; the channel said:\n${lines().join("\n")}`);
  });
  return lines().find((l) => re.test(l))!;
}
const version = async (h: string) => (await fetch(`http://${fleet.host(h).address}:${port}/metrics`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false)) && readFileSync(join(fleet.hosts.find((x) => x.name === h)!.srv, "deployment/demo/current/VERSION"), "utf8").trim();

describe("metrics decide deploys end to end (sshd fleet, demo service, real Prometheus)", () => {
  it("v1 ships and the service answers on every host", async () => {
    await say("!deploy demo -- ship v1");
    await waitLine(/^deploy #1 demo .*: SUCCEEDED on 4\/4 hosts/);
    expect(await Promise.all(fleet.hosts.map((h) => version(h.name)))).toEqual(["1", "1", "1", "1"]);
    // The first deploy has no history before it: NO DATA, said so, not OK.
    expect(await waitLine(/^metrics for deploy #1 demo /)).toContain(": NO DATA (after vs before");
  }, 90_000);

  it("v2 with the bug is caught at the canary gate and rolled back automatically; the channel and the SAL say so with the numbers", async () => {
    upstream.commit({ BUG: "yes\n", VERSION: "2\n" }, "v2: fails 30% of requests");
    await new Promise((r) => setTimeout(r, 6000)); // a healthy stretch for the canary comparison to lean on
    await say("!deploy demo -- ship v2");
    expect(await waitLine(/^canary metrics for deploy #2 demo: /)).toBe("canary metrics for deploy #2 demo: WORSE (canaries vs other hosts: 1 WORSE of 1)");
    expect(await waitLine(/^error ratio WORSE /)).toMatch(/^error ratio WORSE 0 -> 0\.[1-4]\d* \(up from 0, p=[\d.e-]+, over the guardrail \(max 0\.05\)\)$/);
    expect(await waitLine(/^deploy #2 demo .*: ROLLED BACK/)).toMatch(/web01 back on [0-9a-f]{7}/);
    expect(await Promise.all(fleet.hosts.map((h) => version(h.name)))).toEqual(["1", "1", "1", "1"]);
    const sal = (await store.search({ deployId: 2, limit: 10 })).entries.map((e) => e.message);
    expect(sal).toContainEqual(expect.stringMatching(/^Canary metrics for deploy #2 demo: WORSE .*error ratio WORSE 0 -> 0\.[1-4]/));
    expect(sal).toContainEqual(expect.stringMatching(/^Rolled back deploy demo .*the gate after canaries said rollback/));
  }, 90_000);

  it("v3 without the bug is judged OK", async () => {
    upstream.commit({ BUG: null, VERSION: "3\n" }, "v3: fixed");
    await new Promise((r) => setTimeout(r, 6000)); // web01's errors from v2 leave the rate window
    await say("!deploy demo -- ship v3");
    expect(await waitLine(/^canary metrics for deploy #3 demo: /)).toContain(": OK (");
    expect(await waitLine(/^metrics for deploy #3 demo /)).toMatch(/: OK \(after vs before: 1 OK of 1\)/);
    expect(await Promise.all(fleet.hosts.map((h) => version(h.name)))).toEqual(["3", "3", "3", "3"]);
  }, 90_000);

  it("with Prometheus stopped, the verdict is NO DATA, not OK", async () => {
    await prometheus.stop();
    upstream.commit({ VERSION: "4\n" }, "v4");
    await say("!deploy demo -- ship v4");
    expect(await waitLine(/^canary metrics for deploy #4 demo: /)).toBe("canary metrics for deploy #4 demo: NO DATA (canaries vs other hosts: 1 NO DATA of 1)");
    expect(await waitLine(/^metrics for deploy #4 demo /)).toMatch(/: NO DATA \(after vs before: 1 NO DATA of 1\)/);
    expect(lines()).toContainEqual("error ratio NO DATA: before: prometheus: connection refused");
  }, 90_000);
});
