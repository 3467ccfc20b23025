// Alerts without sockets: receivers through fastify's inject (auth, validation, storage before the
// answer), the announcer on FakeChat with a hand-driven clock (line format, dedupe, storms, outages,
// routing, deploy correlation), and the !silence argument parser.
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { commands } from "../../commands/index.js";
import { AlertAnnouncer } from "../../src/alerts/alert-announcer.js";
import { groupLine } from "../../src/alerts/alert-format.js";
import { ReplayError, SqliteAlertStore } from "../../src/alerts/alert-store.js";
import { signature } from "../../src/alerts/receiver-routes.js";
import { DeployLinker } from "../../src/alerts/deploy-link.js";
import type { AlertNotification } from "../../src/alerts/notification.js";
import { silenceArgs } from "../../src/alerts/silence-args.js";
import { stripFormatting, utf8Length } from "../../src/chat/format.js";
import type { Config } from "../../src/config/schema.js";
import { DeployJournal } from "../../src/fleet/journal.js";
import { SalService } from "../../src/sal/service.js";
import { ReplyPages } from "../../src/web/reply-pages.js";
import { buildWebServer, type WebServer } from "../../src/web/server.js";
import { FakeChat } from "../fakes/fake-chat.js";
import { MemorySalStore } from "../fakes/memory-sal-store.js";
import { testConfig } from "../support/fake-services.js";

let dir: string;
let store: SqliteAlertStore;
let now: number;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tugboat-alerts-"));
  now = Date.parse("2026-11-26T12:00:00Z");
  store = new SqliteAlertStore(join(dir, "alerts.sqlite3"), () => new Date(now));
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const amAlert = (name: string, instance: string, status: "firing" | "resolved" = "firing", extra: Record<string, string> = {}) => ({
  status, labels: { alertname: name, instance, severity: "critical", ...extra }, annotations: { summary: `${name} on ${instance}` },
  startsAt: "2026-11-26T11:59:00Z", endsAt: status === "resolved" ? "2026-11-26T12:00:00Z" : "0001-01-01T00:00:00Z",
  generatorURL: "http://prometheus.test/graph?g0.expr=up", fingerprint: `fp-${name}-${instance}`,
});
const amPayload = (groupKey: string, alerts: ReturnType<typeof amAlert>[], common: Record<string, string> = {}) => ({
  version: "4", groupKey, truncatedAlerts: 0, status: alerts.some((a) => a.status === "firing") ? "firing" : "resolved", receiver: "tugboat",
  groupLabels: { alertname: alerts[0]!.labels.alertname }, commonLabels: { alertname: alerts[0]!.labels.alertname, severity: "critical", ...common },
  commonAnnotations: {}, externalURL: "http://alertmanager.test", alerts,
});

describe("receivers", () => {
  let web: WebServer;
  beforeEach(() => {
    const config = testConfig({ alerts: { receivers: [{ name: "am", kind: "alertmanager", auth: { bearer: { env: "X" } } }, { name: "icinga", kind: "generic", auth: { hmac: { env: "Y" } } }] } });
    web = buildWebServer({
      config, baseUrl: "https://bot.test", sal: new SalService(new MemorySalStore(), config.sal), apiTokens: [], commands, replies: new ReplyPages("https://bot.test"),
      log: pino({ level: "silent" }), metrics: () => "", health: () => ({ irc: { connected: true, nick: "tugboat", queueDepth: 0 } }), defaultChannel: null,
      alerts: { store, receivers: config.alerts.receivers, secrets: [{ name: "am", kind: "bearer", secret: "am-secret" }, { name: "icinga", kind: "hmac", secret: "hmac-key" }] },
    });
  });
  afterEach(() => web.close());
  const post = (url: string, body: unknown, headers: Record<string, string>) =>
    web.inject({ method: "POST", url, headers: { "content-type": "application/json", ...headers }, payload: typeof body === "string" ? body : JSON.stringify(body) });

  it("stores an Alertmanager notification with the right bearer token before answering 200", async () => {
    const res = await post("/api/alerts/am", amPayload("{}:{alertname=\"DiskFull\"}", [amAlert("DiskFull", "web01:9100")]), { authorization: "Bearer am-secret" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ stored: 1, alerts: 1 });
    expect(store.pending()).toHaveLength(1);
    expect(store.firing().map((a) => a.labels.instance)).toEqual(["web01:9100"]);
  });

  it("refuses forged, missing and wrong-scheme credentials with 401 and stores nothing", async () => {
    const body = amPayload("g", [amAlert("DiskFull", "web01")]);
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: "Basic YW06YW0tc2VjcmV0" }, { authorization: "Bearer am-secret-but-longer" }] as Array<Record<string, string>>) {
      const res = await post("/api/alerts/am", body, headers);
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toMatch(/missing or wrong credentials/);
    }
    const raw = JSON.stringify({ alerts: [{ status: "firing", labels: { alertname: "x" } }] });
    const t = Math.floor(Date.now() / 1000);
    const goodSig = signature("hmac-key", raw, t);
    for (const headers of [{}, { "x-tugboat-signature": signature("other", raw, t) }, { "x-tugboat-signature": `t=${t},v1=zz` }, { "x-tugboat-signature": `v1=${goodSig.split("v1=")[1]}` }, { authorization: "Bearer hmac-key" }] as Array<Record<string, string>>) {
      const res = await post("/api/alerts/icinga", raw, headers);
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toBe('missing or wrong credentials (x-tugboat-signature: t=UNIX_SECONDS[,n=NONCE],v1=HEX (HMAC-SHA256 of "UNIX_SECONDS.BODY", or "UNIX_SECONDS.NONCE.BODY"))');
    }
    // A signature of another body, or of the same body at another time, does not carry over.
    expect((await post("/api/alerts/icinga", raw.replace("firing", "resolved"), { "x-tugboat-signature": goodSig })).statusCode).toBe(401);
    expect((await post("/api/alerts/icinga", raw, { "x-tugboat-signature": goodSig.replace(`t=${t}`, `t=${t - 1}`) })).statusCode).toBe(401);
    expect(store.count()).toBe(0);
    expect((await post("/api/alerts/icinga", raw, { "x-tugboat-signature": goodSig })).statusCode).toBe(200);
    expect(store.count()).toBe(1);
  });

  it("refuses a replayed signature, a stale or future timestamp and the old untimed scheme, each saying why", async () => {
    const raw = JSON.stringify({ alerts: [{ status: "firing", labels: { alertname: "x" } }] });
    const t = Math.floor(Date.now() / 1000);
    const sig = signature("hmac-key", raw, t);
    expect((await post("/api/alerts/icinga", raw, { "x-tugboat-signature": sig })).statusCode).toBe(200);
    const again = await post("/api/alerts/icinga", raw, { "x-tugboat-signature": sig });
    expect(again.statusCode).toBe(401);
    expect(again.json().error).toBe("this signature was used before (a replayed request?): sign every request anew");
    // The same body signed a second later is a new request; so is one signed in the same second with a nonce.
    expect((await post("/api/alerts/icinga", raw, { "x-tugboat-signature": signature("hmac-key", raw, t + 1) })).statusCode).toBe(200);
    expect((await post("/api/alerts/icinga", raw, { "x-tugboat-signature": signature("hmac-key", raw, t, "0123456789abcdef") })).statusCode).toBe(200);
    expect((await post("/api/alerts/icinga", raw, { "x-tugboat-signature": signature("hmac-key", raw, t, "fedcba9876543210") })).statusCode).toBe(200);
    const nonceAgain = await post("/api/alerts/icinga", raw, { "x-tugboat-signature": signature("hmac-key", raw, t, "fedcba9876543210") });
    expect(nonceAgain.statusCode).toBe(401);
    // the nonce is signed: changing it breaks the signature
    const swapped = signature("hmac-key", raw, t, "aaaaaaaaaaaaaaaa").replace("n=aaaaaaaaaaaaaaaa", "n=bbbbbbbbbbbbbbbb");
    expect((await post("/api/alerts/icinga", raw, { "x-tugboat-signature": swapped })).statusCode).toBe(401);
    const stale = await post("/api/alerts/icinga", raw, { "x-tugboat-signature": signature("hmac-key", raw, t - 400) });
    expect(stale.statusCode).toBe(401);
    expect(stale.json().error).toMatch(/^the signature's timestamp is 40\d s old \(tolerance 300 s\): sign each request when it is sent, and check the sender's clock$/);
    const future = await post("/api/alerts/icinga", raw, { "x-tugboat-signature": signature("hmac-key", raw, t + 900) });
    expect(future.json().error).toMatch(/^the signature's timestamp is \d+ s in the future \(tolerance 300 s\)/);
    const old = await post("/api/alerts/icinga", raw, { "x-tugboat-signature": `sha256=${createHmac("sha256", "hmac-key").update(raw).digest("hex")}` });
    expect(old.statusCode).toBe(401);
    expect(old.json().error).toMatch(/^the signature has no timestamp \(sha256=HEX of the body alone can be replayed and is no longer taken\): send x-tugboat-signature: t=UNIX_SECONDS\[,n=NONCE\],v1=HEX/);
    // A rotating sender may send two v1 values; one matching is enough.
    const rotated = `t=${t + 2},v1=${signature("old-key", raw, t + 2).split("v1=")[1]},v1=${signature("hmac-key", raw, t + 2).split("v1=")[1]}`;
    expect((await post("/api/alerts/icinga", raw, { "x-tugboat-signature": rotated })).statusCode).toBe(200);
    expect(store.count()).toBe(5); // the first, a second later, two nonces, the rotated key;
  });

  it("remembers used signatures on disk: a replay after a restart is refused too", () => {
    const once = { receiver: "icinga", signature: "ab".repeat(32), until: new Date(now + 300_000) };
    store.record([], once);
    store.close();
    store = new SqliteAlertStore(join(dir, "alerts.sqlite3"), () => new Date(now));
    expect(() => store.record([], once)).toThrow(ReplayError);
    // Expired claims are dropped: the store does not grow without bound.
    now += 301_000;
    expect(() => store.record([], once)).not.toThrow();
  });

  it("answers invalid bodies with what is wrong, and unknown receivers with 404", async () => {
    const auth = { authorization: "Bearer am-secret" };
    expect((await post("/api/alerts/am", "{not json", auth)).json().error).toMatch(/not valid JSON/);
    expect((await post("/api/alerts/am", { ...amPayload("g", [amAlert("A", "h1")]), version: "3" }, auth)).json().error).toMatch(/version: expected "4"/);
    const noAlerts = await post("/api/alerts/am", { ...amPayload("g", [amAlert("A", "h1")]), alerts: [] }, auth);
    expect(noAlerts.statusCode).toBe(400);
    expect(noAlerts.json().error).toMatch(/^alerts:/);
    expect((await web.inject({ method: "POST", url: "/api/alerts/am", headers: { ...auth, "content-type": "text/plain" }, payload: "x" })).statusCode).toBe(415);
    const unknown = await post("/api/alerts/nope", {}, auth);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe('no alert receiver named "nope" (configured: am, icinga)');
    expect(store.count()).toBe(0);
  });
});

function announcerWith(config: Config, chat: FakeChat, linker: DeployLinker | null = null) {
  return new AlertAnnouncer({
    store, chat, config: config.alerts, defaultChannels: ["#operations"], linker, alertsUrl: () => "https://bot.test/alerts",
    clock: { now: () => now, setInterval: () => null, clearInterval: () => undefined }, log: pino({ level: "silent" }),
  });
}
const notification = (p: ReturnType<typeof amPayload>): AlertNotification => ({
  receiver: "am", groupKey: p.groupKey, status: p.status as "firing" | "resolved", groupLabels: p.groupLabels, commonLabels: p.commonLabels, commonAnnotations: p.commonAnnotations,
  externalURL: p.externalURL, alerts: p.alerts.map((a) => ({ ...a, endsAt: null })),
});

describe("announcer", () => {
  const hosts = (n: number) => Array.from({ length: n }, (_, i) => `web${String(i + 1).padStart(2, "0")}:9100`);
  const settle = (a: AlertAnnouncer) => {
    a.tick(); // the chat was down until now (start-up): nothing pending, so nothing to summarise
    now += 5000;
  };

  it("one line per group, deduplicated within the interval, resolved once", () => {
    const chat = new FakeChat();
    const a = announcerWith(testConfig({ alerts: { dedupeSec: 600 } }), chat);
    settle(a);
    store.record([notification(amPayload("g1", hosts(7).map((h) => amAlert("DiskFull", h))))]);
    a.tick();
    expect(chat.sent).toHaveLength(0); // gathering
    now += 2000;
    a.tick();
    expect(chat.lines().map(stripFormatting)).toEqual(["FIRING [critical] DiskFull x7 on web[01-07]: DiskFull on web01:9100 - http://prometheus.test/graph?g0.expr=up"]);
    expect(chat.sent[0]).toMatchObject({ target: "#operations", notice: true });
    // Alertmanager repeats the unchanged group: not announced again within 600 s.
    store.record([notification(amPayload("g1", hosts(7).map((h) => amAlert("DiskFull", h))))]);
    now += 3000;
    a.tick();
    expect(chat.sent).toHaveLength(1);
    // One more host: news.
    store.record([notification(amPayload("g1", hosts(8).map((h) => amAlert("DiskFull", h))))]);
    now += 3000;
    a.tick();
    expect(stripFormatting(chat.lines()[1]!)).toMatch(/^FIRING \[critical\] DiskFull x8 on web\[01-08\]/);
    expect(chat.lines()[1]).toMatch(/^\x02\x0304FIRING\x03\x02 /);
    // Past the interval the same group is repeated once.
    store.record([notification(amPayload("g1", hosts(8).map((h) => amAlert("DiskFull", h))))]);
    now += 601_000;
    a.tick();
    expect(chat.sent).toHaveLength(3);
    const resolved = notification(amPayload("g1", hosts(8).map((h) => amAlert("DiskFull", h, "resolved"))));
    store.record([resolved]);
    now += 3000;
    a.tick();
    store.record([resolved]);
    now += 3000;
    a.tick();
    expect(chat.lines().slice(3).map(stripFormatting)).toEqual(["RESOLVED [critical] DiskFull x8 on web[01-08]: DiskFull on web01:9100 - http://prometheus.test/graph?g0.expr=up"]);
    expect(store.firing()).toEqual([]);
  });

  it("a storm of 500 alerts in 50 groups is 4 lines, the last `+N more alerts firing`", () => {
    const chat = new FakeChat();
    const a = announcerWith(testConfig(), chat);
    settle(a);
    const groups = Array.from({ length: 50 }, (_, g) => notification(amPayload(`g${g}`, Array.from({ length: 10 }, (_, i) => amAlert(g < 30 ? "DiskFull" : `Alert${g}`, `db${g * 10 + i}`)))));
    store.record(groups);
    now += 2000;
    a.tick();
    const lines = chat.lines();
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/^\+470 more alerts firing: DiskFull x270, Alert30 x10, Alert31 x10, .*<https:\/\/bot\.test\/alerts>$/);
    for (const l of lines) expect(utf8Length(l)).toBeLessThanOrEqual(chat.budget("#operations", true));
    expect(store.pending()).toEqual([]);
  });

  it("holds alerts while the chat is down and summarises them in one line after reconnect", () => {
    const chat = new FakeChat();
    const a = announcerWith(testConfig(), chat);
    settle(a);
    chat.connected = false;
    a.tick();
    store.record([notification(amPayload("g1", hosts(3).map((h) => amAlert("DiskFull", h)))), notification(amPayload("g2", [amAlert("HighLoad", "db1")]))]);
    store.record([notification(amPayload("g2", [amAlert("HighLoad", "db1", "resolved")]))]);
    now += 60_000;
    a.tick();
    expect(chat.sent).toHaveLength(0);
    expect(store.pending()).toHaveLength(3);
    chat.connected = true;
    a.tick();
    expect(chat.lines()).toEqual(["While I was away (since 12:00 UTC): 3 alert notifications in 2 groups. FIRING now: DiskFull x3. RESOLVED: HighLoad x1. <https://bot.test/alerts>"]);
    expect(store.pending()).toEqual([]);
    // The summary counts as announced: Alertmanager's next repeat is not news.
    store.record([notification(amPayload("g1", hosts(3).map((h) => amAlert("DiskFull", h))))]);
    now += 3000;
    a.tick();
    expect(chat.sent).toHaveLength(1);
  });

  it("what was acknowledged before a crash is announced after the restart, as a summary", () => {
    store.record([notification(amPayload("g1", hosts(2).map((h) => amAlert("DiskFull", h))))]);
    store.close(); // the process dies right after answering 200
    store = new SqliteAlertStore(join(dir, "alerts.sqlite3"), () => new Date(now));
    const chat = new FakeChat();
    const a = announcerWith(testConfig(), chat);
    now += 1000;
    a.tick();
    expect(chat.lines()).toEqual(["While I was away (since 12:00 UTC): 1 alert notification in 1 group. FIRING now: DiskFull x2. <https://bot.test/alerts>"]);
  });

  it("routes groups to channels by labels", () => {
    const chat = new FakeChat();
    const config = testConfig({ alerts: { routes: [{ match: { team: "db" }, channels: ["#other"] }, { match: { severity: "critical" }, channels: ["#operations"] }] } });
    const a = announcerWith(config, chat);
    settle(a);
    store.record([notification(amPayload("g1", [amAlert("Lag", "db1", "firing", { team: "db" })], { team: "db" })), notification(amPayload("g2", [amAlert("DiskFull", "web1")]))]);
    now += 2000;
    a.tick();
    expect(chat.sent.map((l) => [l.target, stripFormatting(l.text).split(" ")[2]])).toEqual([["#other", "Lag"], ["#operations", "DiskFull"]]);
  });

  it("names the deploy an alert started after, and records it for the deploy page", () => {
    const chat = new FakeChat();
    const journal = new DeployJournal(join(dir, "deploys.sqlite3"), () => new Date(now - 10 * 60_000));
    const begun = journal.begin({ app: "api", kind: "deploy", ref: "main", fromSha: "abc1234aaaa", toSha: "def5678bbbb", reason: "T1", nick: "alice" });
    if (!begun.ok) throw new Error("no deploy");
    journal.step({ deployId: begun.deploy.id, host: "web03", step: "promote", outcome: "ok", ms: 5, detail: null });
    journal.finish(begun.deploy.id, "succeeded", "ok");
    const a = announcerWith(testConfig(), chat, new DeployLinker(journal, 1800, {}, { "10.0.0.3": "web03" }));
    settle(a);
    const alert = { ...amAlert("HighErrors", "web03:9100"), startsAt: new Date(now - 7 * 60_000 + 5000).toISOString() };
    const byAddress = { ...amAlert("HighLatency", "10.0.0.3:9100"), startsAt: new Date(now - 7 * 60_000 + 5000).toISOString() };
    store.record([notification(amPayload("g1", [alert])), notification(amPayload("g2", [amAlert("Unrelated", "db9")])), notification(amPayload("g3", [byAddress]))]);
    now += 2000;
    a.tick();
    expect(stripFormatting(chat.lines()[0]!)).toMatch(/^FIRING \[critical\] HighErrors x1 on web03: .* \(started 3m after deploy #1 of api by alice: abc1234\.\.def5678; !rollback api\?\)$/);
    expect(chat.lines()[1]).not.toMatch(/deploy/);
    expect(stripFormatting(chat.lines()[2]!)).toMatch(/^FIRING \[critical\] HighLatency x1 on 10\.0\.0\.3: .* \(started 3m after deploy #1 of api/);
    expect(store.deployAlerts(1)).toMatchObject([{ alertname: "HighErrors", instance: "web03", minutesAfter: 3 }, { alertname: "HighLatency", instance: "10.0.0.3" }]);
    journal.close();
  });

  it("keeps every line within the IRC budget however long the labels and annotations", () => {
    const n = notification(amPayload("g", Array.from({ length: 300 }, (_, i) => ({ ...amAlert("Ä".repeat(40), `host-${i}-é.example.org:9100`), annotations: { summary: "ü".repeat(600), runbook_url: "https://runbooks.test/disk" } }))));
    const line = groupLine({ notification: n, deploy: "(started 3m after deploy #42 of api by NICK: abc1234..def5678; !rollback api?)" }, 400);
    expect(utf8Length(line)).toBeLessThanOrEqual(400);
    expect(stripFormatting(line)).toMatch(/^FIRING \[critical\] Ä+ x300/);
  });
});

describe("!silence arguments", () => {
  it("parses matchers, a duration and the reason", () => {
    expect(silenceArgs.parse('alertname=DiskFull instance=~"web0[1-3].*" job!=x 1h30m -- T1234 resizing')).toEqual({
      matchers: [
        { name: "alertname", value: "DiskFull", isRegex: false, isEqual: true },
        { name: "instance", value: "web0[1-3].*", isRegex: true, isEqual: true },
        { name: "job", value: "x", isRegex: false, isEqual: false },
      ],
      ms: 5_400_000, durationText: "1h30m", reason: "T1234 resizing", text: 'alertname=DiskFull instance=~"web0[1-3].*" job!=x',
    });
  });
  it.each([
    ["alertname=DiskFull 2h", /say why after --/],
    ["alertname=DiskFull soon -- x", /"soon" is not a duration/],
    ["2h -- x", /at least one matcher/],
    ["alertname 2h -- x", /"alertname" is not a matcher/],
    ["instance=~.* 2h -- x", /must select something/],
    ["a=~( 2h -- x", /not a valid regular expression/],
    ["a=b 100d -- x", /at most 90 days/],
  ])("refuses %s", (text, why) => {
    const r = silenceArgs.safeParse(text);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toMatch(why);
  });
});
