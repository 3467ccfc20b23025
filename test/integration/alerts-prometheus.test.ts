// Alerts end to end on real servers: Prometheus evaluates a rule on a test metric and sends to a real
// Alertmanager, which posts webhooks (short group timings, bearer token) to the bot; a real IRC client
// in a real ngircd channel reads what the bot announces. Deploys are real too (!deploy on the local
// fleet), so the correlation line names a deploy the bot itself journaled.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteAlertStore } from "../../src/alerts/alert-store.js";
import { stripFormatting } from "../../src/chat/format.js";
import { TempDirs, UpstreamRepo } from "../fixtures/git-repos.js";
import { startAlertmanager, type AlertmanagerServer } from "../servers/alertmanager.js";
import { freePort } from "../servers/daemon.js";
import { startNgircd, type NgircdServer } from "../servers/ngircd.js";
import { startPrometheusAlerting, type PrometheusAlerting } from "../servers/prometheus-alerting.js";
import { startBot, until, type RunningBot } from "../support/bot.js";
import { connectClient, type IrcTestClient, type ReceivedIrcMessage } from "../support/irc-test-client.js";

const AM_TOKEN = "am-webhook-token-123";
const noticeFromBot = (m: ReceivedIrcMessage) => m.command === "NOTICE" && m.nick === "tugboat" && m.params[0] === "#operations";
const text = (m: ReceivedIrcMessage) => stripFormatting(m.params[1] ?? "");

describe("alerts from real Prometheus and Alertmanager to a real IRC channel", () => {
  let irc: NgircdServer;
  let am: AlertmanagerServer;
  let prom: PrometheusAlerting;
  let bot: RunningBot;
  let alice: IrcTestClient;
  const temp = new TempDirs();
  const dataDir = mkdtempSync(join(tmpdir(), "tugboat-alerts-e2e-"));
  const upstream = UpstreamRepo.create(temp.make());

  /** A second handle on the bot's alert store (WAL: readers do not block it). */
  const stored = () => {
    const s = new SqliteAlertStore(join(dataDir, "alerts.sqlite3"), () => new Date());
    try {
      return { count: s.count(), firing: s.firing() };
    } finally {
      s.close();
    }
  };
  const closedConnections = () => bot.log.filter((l) => /IRC connection closed/.test(l)).length;

  const joinAlice = async () => {
    alice = await connectClient({ host: irc.host, port: irc.port, nick: "alice" });
    await alice.join("#operations");
  };

  beforeAll(async () => {
    irc = await startNgircd({ fast: true });
    const webPort = await freePort();
    am = await startAlertmanager({ webhookUrl: `http://127.0.0.1:${webPort}/api/alerts/am`, bearer: AM_TOKEN });
    upstream.commit({ "index.html": "v1\n" }, "v1");
    bot = await startBot({
      port: irc.port,
      dataDir,
      // Slow enough reconnects that the human is back in the channel before the bot (the outage test).
      irc: { reconnect: { minDelayMs: 1500, maxDelayMs: 2000, stableAfterMs: 3000 } },
      config: {
        web: { port: webPort },
        permissions: { deploy: { allow: ["anyone"] }, silence: { allow: ["anyone"] } },
        fleet: { transport: "local", localRoot: "fleet", hosts: [{ name: "web01" }, { name: "web02" }] },
        apps: { api: { repo: upstream.dir, deployPath: "/srv/api", targets: ["web01", "web02"] } },
        alerts: {
          receivers: [{ name: "am", kind: "alertmanager", auth: { bearer: { env: "AM" } } }],
          gatherMs: 1500,
          alertmanager: { url: am.url, timeoutMs: 5000 },
        },
      },
      alertSecrets: [{ name: "am", kind: "bearer", secret: AM_TOKEN }],
    });
    await until(() => bot.chat.status().connected, 10_000, "bot joined");
    prom = await startPrometheusAlerting({ alertmanagerUrl: am.url, hosts: ["web01", "web02"] });
    await joinAlice();
  }, 120_000);

  afterAll(async () => {

    alice?.destroy();
    await bot?.stop();
    await prom?.stop();
    await am?.stop();
    await irc?.stop();
    temp.removeAll();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("a rule firing after a deploy reaches the channel with the deploy, then its resolution, once each", async () => {
    for (const [n, file] of [[1, "v1"], [2, "v2"]] as const) {
      if (n === 2) upstream.commit({ "index.html": "v2\n" }, "v2");
      const mark = alice.mark();
      alice.say("#operations", `!deploy api -- release ${file}`);
      await alice.waitFor((m) => noticeFromBot(m) && /SUCCEEDED/.test(text(m)), { since: mark, timeoutMs: 60_000 });
    }
    const mark = alice.mark();
    for (const e of prom.exporters) e.set(1);
    const firing = await alice.waitFor((m) => noticeFromBot(m) && /^FIRING/.test(text(m)), { since: mark, timeoutMs: 30_000 });
    expect(text(firing)).toMatch(
      /^FIRING \[critical\] TestMetricHigh x2 on web\[01-02\]: test metric is 1 on web0[12] - https:\/\/runbooks\.test\/test-metric \(started 0m after deploy #2 of api by alice: [0-9a-f]{7}\.\.[0-9a-f]{7}; !rollback api\?\)$/,
    );
    const page = await fetch(`${bot.url}/deploys/2`).then((r) => r.text());
    expect(page).toMatch(/Alerts that followed[\s\S]*<strong>TestMetricHigh<\/strong> \[critical\] on web0[12]/);

    const list = alice.mark();
    alice.say("#operations", "!alerts team=web");
    const answer = await alice.waitFor((m) => m.nick === "tugboat" && m.command === "PRIVMSG", { since: list });
    expect(answer.params[1]).toBe(`alice: 2 alerts firing matching "team=web" (${bot.url}/alerts):`);
    const row = await alice.waitFor((m) => m.nick === "tugboat" && m.command === "PRIVMSG");
    expect(row.params[1]).toMatch(/^alice: TestMetricHigh x2 \[critical\] on web\[01-02\] since \d\d:\d\d UTC$/);

    const before = alice.mark();
    for (const e of prom.exporters) e.set(0);
    const resolved = await alice.waitFor((m) => noticeFromBot(m) && /^RESOLVED/.test(text(m)), { since: before, timeoutMs: 30_000 });
    expect(text(resolved)).toMatch(/^RESOLVED \[critical\] TestMetricHigh x2 on web\[01-02\]: test metric is 1 on web0[12] - https:\/\/runbooks\.test\/test-metric$/);
    // Alertmanager keeps repeating nothing new: no second FIRING or RESOLVED for the group.
    await new Promise((r) => setTimeout(r, 4000));
    const about = alice.messages.slice(mark).filter((m) => noticeFromBot(m) && /TestMetricHigh/.test(text(m)));
    expect(about.map((m) => text(m).split(" ")[0])).toEqual(["FIRING", "RESOLVED"]);
  }, 120_000);

  it("!silence creates a silence in Alertmanager and the SAL records it; !unsilence expires it", async () => {
    const mark = alice.mark();
    alice.say("#operations", "!silence alertname=DiskFull instance=~web0[1-3] 2h -- T1234 resizing disks");
    const ack = await alice.waitFor((m) => m.nick === "tugboat" && m.command === "PRIVMSG", { since: mark });
    const m = /^alice: silence ([0-9a-f-]{36}) on alertname=DiskFull instance=~web0\[1-3\] until .* UTC \(logged: (\d+)\); !unsilence \1 ends it$/.exec(ack.params[1] ?? "");
    expect(m, ack.params[1]).not.toBeNull();
    const id = m![1]!;
    const silence = await fetch(`${am.url}/api/v2/silence/${id}`).then((r) => r.json() as Promise<{ status: { state: string }; createdBy: string; comment: string; matchers: unknown[] }>);
    expect(silence).toMatchObject({ status: { state: "active" }, createdBy: "alice", comment: "T1234 resizing disks" });
    expect(silence.matchers).toEqual(expect.arrayContaining([{ name: "instance", value: "web0[1-3]", isRegex: true, isEqual: true }]));
    const entry = await bot.app.sal.store.get(Number(m![2]));
    expect(entry?.message).toMatch(new RegExp(`^silenced alertname=DiskFull instance=~web0\\[1-3\\] for 2h \\(until .* UTC, silence ${id}\\): T1234 resizing disks$`));

    const un = alice.mark();
    alice.say("#operations", `!unsilence ${id}`);
    expect((await alice.waitFor((x) => x.nick === "tugboat" && x.command === "PRIVMSG", { since: un })).params[1]).toMatch(new RegExp(`^alice: silence ${id} expired \\(logged: \\d+\\)$`));
    const after = await fetch(`${am.url}/api/v2/silence/${id}`).then((r) => r.json() as Promise<{ status: { state: string } }>);
    expect(after.status.state).toBe("expired");
  }, 30_000);

  it("a forged webhook is refused with 401 and nothing is announced", async () => {
    const before = stored().count;
    const mark = alice.mark();
    const body = JSON.stringify({ version: "4", groupKey: "forged", status: "firing", receiver: "x", groupLabels: {}, commonLabels: { alertname: "Forged" }, commonAnnotations: {}, alerts: [{ status: "firing", labels: { alertname: "Forged" }, annotations: {}, startsAt: new Date().toISOString(), fingerprint: "f0" }] });
    for (const headers of [{}, { authorization: "Bearer not-the-token" }] as Array<Record<string, string>>) {
      const res = await fetch(`${bot.url}/api/alerts/am`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
      expect(res.status).toBe(401);
    }
    await new Promise((r) => setTimeout(r, 3000));
    expect(alice.messages.slice(mark).filter((m) => /Forged/.test(m.params[1] ?? ""))).toEqual([]);
    expect(stored().count).toBe(before);
    expect(bot.app.metrics.value("tugboat_alert_requests_refused_total", { receiver: "am", status: "401" })).toBe(2);
  }, 20_000);

  it("a storm of 500 alerts in 50 groups arrives as at most 10 lines, with no disconnect", async () => {
    const mark = alice.mark();
    const closed = closedConnections();
    const alerts = Array.from({ length: 500 }, (_, i) => ({
      labels: { alertname: `Storm${String(Math.floor(i / 10)).padStart(2, "0")}`, instance: `db${String(i).padStart(3, "0")}:9100`, severity: i < 100 ? "critical" : "warning" },
      annotations: { summary: "storm test" },
    }));
    await am.postAlerts(alerts);
    await until(() => bot.chat.status().queueDepth === 0 && alice.messages.slice(mark).some((m) => noticeFromBot(m) && /more alerts? firing/.test(text(m))), 30_000, "the storm summary");
    // Alertmanager sends 50 webhooks; wait until it has been quiet for 4 s.
    let seen = -1;
    await until(async () => {
      const now = alice.messages.slice(mark).filter(noticeFromBot).length;
      if (now !== seen) {
        seen = now;
        await new Promise((r) => setTimeout(r, 4000));
        return alice.messages.slice(mark).filter(noticeFromBot).length === seen;
      }
      return true;
    }, 40_000, "the channel to go quiet");
    const lines = alice.messages.slice(mark).filter(noticeFromBot).map(text);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.length).toBeLessThanOrEqual(10);
    const named = lines.filter((l) => /^FIRING/.test(l)).reduce((n, l) => n + Number(/ x(\d+)/.exec(l)?.[1] ?? 0), 0);
    const more = lines.filter((l) => /^\+\d+ more/.test(l)).reduce((n, l) => n + Number(/^\+(\d+)/.exec(l)?.[1] ?? 0), 0);
    expect(named + more).toBe(500);
    expect(bot.chat.status().connected).toBe(true);
    expect(closedConnections()).toBe(closed);
    expect(stored().firing.filter((a) => a.labels.alertname?.startsWith("Storm"))).toHaveLength(500);
    expect(bot.log.some((l) => /Excess Flood/i.test(l))).toBe(false);
  }, 90_000);

  it("alerts that arrive while IRC is down are kept and summarised after reconnect", async () => {
    await irc.kill();
    await until(() => !bot.chat.status().connected, 10_000, "the bot to notice");
    alice.destroy();
    await am.postAlerts([
      { labels: { alertname: "OutageDisk", instance: "web05:9100", severity: "critical" } },
      { labels: { alertname: "OutageDisk", instance: "web06:9100", severity: "critical" } },
      { labels: { alertname: "OutageLoad", instance: "db1", severity: "warning" } },
    ]);
    // Alertmanager's webhooks reached the bot and were stored while nobody could be told.
    await until(() => stored().firing.filter((a) => a.labels.alertname?.startsWith("Outage")).length === 3, 20_000, "the outage alerts stored");
    expect(bot.chat.status().connected).toBe(false);
    await irc.restart();
    await joinAlice();
    const away = await alice.waitFor((m) => noticeFromBot(m) && /^While I was away/.test(text(m)), { since: 0, timeoutMs: 30_000 });
    expect(text(away)).toMatch(/^While I was away \(since \d\d:\d\d UTC\): \d+ alert notifications? in 2 groups\. FIRING now: OutageDisk x2, OutageLoad x1\. <http:\/\/127\.0\.0\.1:\d+\/alerts>$/);
    await new Promise((r) => setTimeout(r, 3000));
    expect(alice.messages.filter((m) => noticeFromBot(m) && /^FIRING .*Outage/.test(text(m)))).toEqual([]);
    const page = await fetch(`${bot.url}/alerts`).then((r) => r.text());
    expect(page).toContain("OutageDisk");
    expect(page).toContain("web05");
  }, 60_000);
});
