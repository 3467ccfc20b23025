// The web server through fastify's inject (no sockets): API validation, auth, idempotency, pages.
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { commands } from "../../commands/index.js";
import { SalService } from "../../src/sal/service.js";
import { ReplyPages } from "../../src/web/reply-pages.js";
import { buildWebServer, type WebServer } from "../../src/web/server.js";
import { MemorySalStore } from "../fakes/memory-sal-store.js";
import { testConfig } from "../support/fake-services.js";

let store: MemorySalStore;
let web: WebServer;
let announced: string[];
const auth = { authorization: "Bearer good-token" };

beforeEach(() => {
  const config = testConfig({ web: { bodyLimitBytes: 2048 }, sal: { channels: { "#operations": {} }, projects: ["mediawiki"], taskUrl: "https://phab.test/{id}" } });
  store = new MemorySalStore();
  const sal = new SalService(store, config.sal);
  announced = [];
  sal.onEntry((e) => announced.push(e.message));
  web = buildWebServer({
    config, baseUrl: "https://sal.test", sal, apiTokens: [{ name: "l10nupdate@deploy1001", token: "good-token" }], commands,
    replies: new ReplyPages("https://sal.test"), log: pino({ level: "silent" }), metrics: () => "tugboat_up 1\n",
    health: () => ({ irc: { connected: true, nick: "tugboat", queueDepth: 0 } }), defaultChannel: "#operations",
  });
});
afterEach(() => web.close());

const post = (payload: unknown, headers: Record<string, string> = auth) =>
  web.inject({ method: "POST", url: "/api/log", headers: { "content-type": "application/json", ...headers }, payload: typeof payload === "string" ? payload : JSON.stringify(payload) });

describe("POST /api/log", () => {
  it("writes the entry with the token's name as identity, announces it, and returns its permalink", async () => {
    const res = await post({ message: "LocalisationUpdate completed (T99)" });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ created: true, url: "https://sal.test/log/1", entry: { nick: "l10nupdate", identity: "l10nupdate@deploy1001", source: "api", channel: "#operations", task: "T99" } });
    expect(announced).toEqual(["LocalisationUpdate completed (T99)"]);
  });

  it("a retried request with the same idempotency key writes once", async () => {
    const a = await post({ message: "sync done" }, { ...auth, "idempotency-key": "run-42" });
    const b = await post({ message: "sync done" }, { ...auth, "idempotency-key": "run-42" });
    const c = await post({ message: "sync done", idempotencyKey: "run-43" });
    expect([a.statusCode, b.statusCode, c.statusCode]).toEqual([201, 200, 201]);
    expect(b.json().entry.id).toBe(a.json().entry.id);
    expect(store.entries).toHaveLength(2);
    expect(announced).toHaveLength(2);
  });

  it.each([
    ["no token", {}, 401, /missing or wrong API token/],
    ["wrong token", { authorization: "Bearer bad" }, 401, /missing or wrong API token/],
    ["basic auth", { authorization: "Basic Z29vZC10b2tlbg==" }, 401, /missing or wrong API token/],
  ])("%s: 401 and nothing written", async (_n, headers, status, error) => {
    const res = await post({ message: "x" }, headers);
    expect(res.statusCode).toBe(status);
    expect(res.json().error).toMatch(error);
    expect(store.entries).toHaveLength(0);
  });

  it.each([
    ["malformed JSON", "{\"message\": ", 400, /JSON/],
    ["empty body", "", 400, /body is empty/],
    ["no message", { nick: "x" }, 400, /message: message is required/],
    ["empty message", { message: "  " }, 400, /the message is empty/],
    ["unknown field", { message: "x", colour: "red" }, 400, /Unrecognized key: "colour"/],
    ["unknown project", { message: "x", project: "mediawik" }, 400, /unknown project "mediawik" \(did you mean mediawiki\?\)/],
    ["not a SAL channel", { message: "x", channel: "#random" }, 400, /channel: #random is not a SAL channel/],
    ["too long", { message: "x".repeat(1500) }, 400, /too long: 1500 characters, the limit is 1000/],
    ["oversized body", { message: "x".repeat(3000) }, 413, /body too large: the limit is 2048 bytes/],
  ])("%s: %i with the reason, nothing written", async (_n, payload, status, error) => {
    const res = await post(payload);
    expect(res.statusCode).toBe(status);
    expect(res.json().error).toMatch(error);
    expect(store.entries).toHaveLength(0);
  });

  it("refuses a non-JSON content type", async () => {
    const res = await web.inject({ method: "POST", url: "/api/log", headers: { ...auth, "content-type": "text/plain" }, payload: "hello" });
    expect(res.statusCode).toBe(415);
    expect(store.entries).toHaveLength(0);
  });
});

describe("reading the SAL", () => {
  beforeEach(async () => {
    for (const [nick, message] of [["alice", "restarted memcached on mc1004 (T1234)"], ["bob", "<script>alert(1)</script> deployed abc1234f"], ["alice", "depooled db1001"]] as const) {
      await store.append({ nick, message, account: null, mask: null, channel: "#operations", project: null, source: "irc", identity: null, deployId: null, task: null });
    }
  });

  it("/api/sal searches, filters and pages", async () => {
    const all = (await web.inject("/api/sal?limit=2")).json();
    expect(all.entries.map((e: { id: number }) => e.id)).toEqual([3, 2]);
    const next = (await web.inject(`/api/sal?limit=2&cursor=${all.nextCursor}`)).json();
    expect(next.entries.map((e: { id: number }) => e.id)).toEqual([1]);
    expect(next.nextCursor).toBeNull();
    expect((await web.inject("/api/sal?q=memcached")).json().entries[0]).toMatchObject({ id: 1, url: "https://sal.test/log/1" });
    expect((await web.inject("/api/sal?nick=ALICE")).json().entries).toHaveLength(2);
  });

  it.each(["limit=0", "limit=abc", "before=2026-13-45", "before=yesterday", "colour=red"])("/api/sal?%s is a 400 with the reason", async (qs) => {
    const res = await web.inject(`/api/sal?${qs}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatch(/limit|before|colour/);
  });

  it("the page escapes before linkifying, and permalinks work", async () => {
    const page = await web.inject("/");
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain("<script>alert(1)</script>");
    expect(page.body).toContain("&lt;script&gt;");
    expect(page.body).toContain('href="https://phab.test/T1234"');
    expect((await web.inject("/log/2")).body).toContain("deployed abc1234f");
    expect((await web.inject("/log/99")).statusCode).toBe(404);
    expect((await web.inject("/log/abc")).statusCode).toBe(404);
    expect((await web.inject("/?before=nonsense")).statusCode).toBe(400);
  });

  it("serves the Atom feed, health and metrics", async () => {
    const feed = await web.inject("/feed.atom");
    expect(feed.headers["content-type"]).toMatch(/application\/atom\+xml/);
    expect(feed.body).toContain("<id>https://sal.test/log/3</id>");
    expect((await web.inject("/healthz")).json()).toMatchObject({ status: "ok", sal: "ok" });
    expect((await web.inject("/metrics")).body).toBe("tugboat_up 1\n");
    expect((await web.inject("/help")).body).toContain("!log MESSAGE");
  });
});
