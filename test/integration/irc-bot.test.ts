// The whole bot against a real IRC server (ngircd on loopback); a separate raw IRC client types
// the commands as a person would, and reads what the channel sees.
import axios from "axios";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineCommand } from "../../src/chat/command.js";
import { startNgircd, type NgircdServer } from "../servers/ngircd.js";
import { API_TOKEN, startBot, until, type RunningBot } from "../support/bot.js";
import { connectClient, type IrcTestClient, type ReceivedIrcMessage } from "../support/irc-test-client.js";

const fromBot = (nick = "tugboat", command = "PRIVMSG") => (m: ReceivedIrcMessage) => m.command === command && m.nick === nick;
const api = (url: string) => axios.create({ baseURL: url, validateStatus: () => true, timeout: 5000 });

describe("tugboat on a real IRC server (fast ngircd)", () => {
  let server: NgircdServer;
  let bot: RunningBot | undefined;
  const clients: IrcTestClient[] = [];
  const human = async (nick: string, channel = "#operations") => {
    const c = await connectClient({ host: server.host, port: server.port, nick });
    clients.push(c);
    await c.join(channel);
    return c;
  };

  beforeAll(async () => {
    server = await startNgircd({ fast: true });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await bot?.stop();
    bot = undefined;
  });
  afterAll(async () => {
    await server.stop();
  });

  it("!log round trip: the entry is stored, acknowledged with its permalink, and served by the page and API", async () => {
    bot = await startBot({ port: server.port });
    await until(() => bot!.chat.status().connected, 10_000, "bot joined");
    const alice = await human("alice");
    const mark = alice.mark();
    alice.say("#operations", "!log restarted memcached on mc1004 (T1234) \x02now\x02");
    const ack = await alice.waitFor(fromBot(), { since: mark });
    expect(ack.params).toEqual(["#operations", `alice: Logged the message at ${bot.url}/log/1`]);
    const res = await api(bot.url).get("/api/sal", { params: { q: "memcached" } });
    expect(res.data.entries).toHaveLength(1);
    expect(res.data.entries[0]).toMatchObject({ id: 1, nick: "alice", channel: "#operations", message: "restarted memcached on mc1004 (T1234) now", task: "T1234", source: "irc" });
    expect(res.data.entries[0].mask).toMatch(/^alice!~?alice@/);
    const page = await api(bot.url).get("/log/1");
    expect(page.status).toBe(200);
    expect(page.data).toContain("restarted memcached on mc1004");
  });

  it("refuses an unauthorised user, saying why, and writes nothing", async () => {
    bot = await startBot({ port: server.port, config: { roles: { ops: ["mask:alice!*@*"] }, permissions: { log: { allow: ["role:ops"] } } } });
    await until(() => bot!.chat.status().connected, 10_000, "bot joined");
    const eve = await human("eve");
    const mark = eve.mark();
    eve.say("#operations", "!log I was never here");
    const refusal = await eve.waitFor(fromBot(), { since: mark });
    expect(refusal.params[1]).toMatch(/^eve: you may not use !log in #operations: needs role:ops \(you are eve!~?eve@.*, not identified\)$/);
    expect(await bot.app.sal.store.count()).toBe(0);
    expect(bot.app.metrics.value("tugboat_commands_refused_total", { command: "log" })).toBe(1);
  });

  it("splits a 600-byte multibyte announcement into lines within 512 bytes, never inside a character", async () => {
    bot = await startBot({ port: server.port });
    await until(() => bot!.chat.status().connected, 10_000, "bot joined");
    const alice = await human("alice");
    const mark = alice.mark();
    const message = `déploiement terminé 日本語のテキスト 🚀 ${"naïve café ünïcödé 漢字 ".repeat(20)}`.trim();
    expect(Buffer.byteLength(message)).toBeGreaterThan(600);
    const res = await api(bot.url).post("/api/log", { message }, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(res.status).toBe(201);
    const first = await alice.waitFor(fromBot("tugboat", "NOTICE"), { since: mark });
    await until(() => alice.messages.filter((m) => m.index >= mark && m.command === "NOTICE").length >= 2, 5000, "second line");
    await new Promise((r) => setTimeout(r, 300));
    const lines = alice.messages.filter((m) => m.index >= first.index && m.command === "NOTICE" && m.nick === "tugboat");
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) {
      expect(l.bytes).toBeLessThanOrEqual(512);
      expect(l.params[1]).not.toContain("\uFFFD");
    }
    const joined = lines.map((l) => l.params[1]).join(" ");
    expect(joined).toBe(`SAL: cron (via cron@deploy1001): ${message} <${bot.url}/log/1>`);
  });

  it("a script logging 30 entries costs the channel a few lines, and a person's !log is still answered at once", async () => {
    bot = await startBot({ port: server.port });
    await until(() => bot!.chat.status().connected, 10_000, "bot joined");
    const alice = await human("alice");
    const mark = alice.mark();
    const client = api(bot.url);
    for (let i = 1; i <= 30; i++) {
      const res = await client.post("/api/log", { message: `sync step ${i} done` }, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      expect(res.status).toBe(201);
    }
    const asked = Date.now();
    alice.say("#operations", "!log manual check after the sync");
    await alice.waitFor((m) => m.nick === "tugboat" && m.command === "PRIVMSG" && m.params[1]!.startsWith("alice: Logged"), { since: mark, timeoutMs: 10_000 });
    expect(Date.now() - asked).toBeLessThan(2500);
    await alice.waitFor((m) => m.command === "NOTICE" && /sync step 30 done/.test(m.params[1] ?? ""), { since: mark, timeoutMs: 15_000 });
    const notices = alice.messages.filter((m) => m.index >= mark && m.command === "NOTICE" && m.nick === "tugboat").map((m) => m.params[1]);
    expect(notices.length).toBeLessThanOrEqual(6);
    expect(notices.some((n) => /^\d+ SAL entries logged; the latest: SAL: cron \(via cron@deploy1001\): sync step \d+ done/.test(n ?? ""))).toBe(true);
    expect(await bot.app.sal.store.count()).toBe(31);
  });

  it("rejoins by itself after the IRC server is killed and restarted, and announces what was logged meanwhile", async () => {
    bot = await startBot({ port: server.port });
    await until(() => bot!.chat.status().connected, 10_000, "bot joined");
    await server.kill();
    await until(() => !bot!.chat.status().connected, 5000, "bot notices the outage");
    const res = await api(bot.url).post("/api/log", { message: "logged while IRC was down" }, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(res.status).toBe(201);
    expect(bot.chat.status().queueDepth).toBe(1);
    await server.restart();
    const alice = await connectClient({ host: server.host, port: server.port, nick: "alice" });
    clients.push(alice);
    await alice.join("#operations");
    const note = await alice.waitFor((m) => m.command === "NOTICE" && m.nick === "tugboat", { since: 0, timeoutMs: 15_000 });
    expect(note.params[1]).toBe(`SAL: cron (via cron@deploy1001): logged while IRC was down <${bot.url}/log/1>`);
    expect(bot.chat.status()).toMatchObject({ connected: true, nick: "tugboat", queueDepth: 0 });
    // and it answers commands again
    const mark = alice.mark();
    alice.say("#operations", "!log back online");
    expect((await alice.waitFor(fromBot(), { since: mark })).params[1]).toBe(`alice: Logged the message at ${bot.url}/log/2`);
  });

  it("takes an alternate nick when the primary is in use, ignores commands there, and regains the primary", async () => {
    const squatter = await connectClient({ host: server.host, port: server.port, nick: "tugboat" });
    clients.push(squatter);
    bot = await startBot({ port: server.port, irc: { altNicks: ["tugboat_alt"] } });
    await until(() => bot!.chat.status().connected, 10_000, "bot joined");
    expect(bot.chat.status()).toMatchObject({ nick: "tugboat_alt", onPrimaryNick: false });
    const alice = await human("alice");
    alice.say("#operations", "!log must not be logged twice");
    await new Promise((r) => setTimeout(r, 500));
    expect(await bot.app.sal.store.count()).toBe(0);
    await squatter.quit();
    await until(() => bot!.chat.status().onPrimaryNick, 5000, "primary nick regained");
    const mark = alice.mark();
    alice.say("#operations", "!log now it counts");
    expect((await alice.waitFor(fromBot(), { since: mark })).params[1]).toBe(`alice: Logged the message at ${bot.url}/log/1`);
  });

  it("connects over TLS with a server password, and identifies to NickServ when the server offers no SASL", async () => {
    const secure = await startNgircd({ fast: true, tls: true, password: "letmein" });
    const nickserv = await connectClient({ host: secure.host, port: secure.port, nick: "NickServ", password: "letmein" });
    clients.push(nickserv);
    const loaded = await startBot({
      port: secure.tlsPort!,
      irc: { tls: true, tlsVerify: false, sasl: { account: "tugboat-bot", password: { env: "UNUSED" } } },
      secrets: { password: "letmein", saslPassword: "s3cret-pass", nickservPassword: null },
    });
    bot = loaded;
    try {
      await until(() => loaded.chat.status().connected, 10_000, "bot joined over TLS");
      const identify = await nickserv.waitFor((m) => m.command === "PRIVMSG" && m.nick === "tugboat", { since: 0 });
      expect(identify.params).toEqual(["NickServ", "IDENTIFY tugboat-bot s3cret-pass"]);
      // The password never reaches the logs.
      expect(loaded.log.join("")).not.toContain("s3cret-pass");
      const alice = await connectClient({ host: secure.host, port: secure.port, nick: "alice", password: "letmein" });
      clients.push(alice);
      await alice.join("#operations");
      const mark = alice.mark();
      alice.say("#operations", "!log over TLS");
      expect((await alice.waitFor(fromBot(), { since: mark })).params[1]).toBe(`alice: Logged the message at ${loaded.url}/log/1`);
    } finally {
      await loaded.stop();
      bot = undefined;
      await secure.stop();
    }
  });

  it("keeps working when the server is unreachable at start, connecting once it appears", async () => {
    const late = await startNgircd({ fast: true });
    await late.stop();
    bot = await startBot({ port: late.port });
    await new Promise((r) => setTimeout(r, 800));
    expect(bot.chat.status().connected).toBe(false);
    await late.restart();
    try {
      await until(() => bot!.chat.status().connected, 10_000, "bot connects after a failed first connect");
    } finally {
      await bot.stop();
      bot = undefined;
      await late.stop();
    }
  });
});

describe("flood pacing against ngircd's default penalties", () => {
  it("a 50-line reply arrives whole and in order, paced, without the bot being disconnected", async () => {
    const server = await startNgircd({ fast: false });
    const many = defineCommand({
      name: "many", summary: "fifty lines", usage: "!many", permission: "many", defaultRule: { allow: ["anyone"], deny: [] }, args: z.string(),
      run: async () => ({ lines: Array.from({ length: 50 }, (_, i) => `line ${i + 1} of 50`) }),
    });
    const bot = await startBot({ port: server.port, extraCommands: [many], irc: { maxLinesPerReply: 50 } });
    const alice = await connectClient({ host: server.host, port: server.port, nick: "alice" });
    try {
      await until(() => bot.chat.status().connected, 10_000, "bot joined");
      await alice.join("#operations");
      const mark = alice.mark();
      const started = Date.now();
      alice.say("#operations", "!many");
      await alice.waitFor((m) => m.nick === "tugboat" && m.params[1] === "alice: line 50 of 50", { since: mark, timeoutMs: 90_000 });
      const elapsed = Date.now() - started;
      const got = alice.messages.filter((m) => m.index >= mark && m.nick === "tugboat" && m.command === "PRIVMSG").map((m) => m.params[1]);
      expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `alice: line ${i + 1} of 50`));
      expect(elapsed).toBeGreaterThan(40_000); // burst 4, then 1 line/s
      expect(bot.chat.status().connected).toBe(true);
      expect(bot.log.join("")).not.toMatch(/Excess Flood|connection closed/);
    } finally {
      alice.destroy();
      await bot.stop();
      await server.stop();
    }
  }, 120_000);
});
