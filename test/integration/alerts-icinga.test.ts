// The shipped Icinga notification script (contrib/icinga2/tugboat-notify): run by a real, headless
// Icinga 2 whose service check fails and recovers, posting (HMAC-signed) to the bot's generic receiver;
// the problem and the recovery reach a real IRC client in a real ngircd channel. Then the script on
// its own, with the environment Icinga gives it: refusals, an unreachable bot, types not announced.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stripFormatting } from "../../src/chat/format.js";
import { freePort } from "../servers/daemon.js";
import { startIcinga, type IcingaServer } from "../servers/icinga.js";
import { startNgircd, type NgircdServer } from "../servers/ngircd.js";
import { startBot, until, type RunningBot } from "../support/bot.js";
import { connectClient, type IrcTestClient, type ReceivedIrcMessage } from "../support/irc-test-client.js";

const SCRIPT = resolve("contrib/icinga2/tugboat-notify");
const HMAC_KEY = "icinga-hmac-key-0123456789";
const TOKEN = "icinga-bearer-token";
const noticeFromBot = (m: ReceivedIrcMessage) => m.command === "NOTICE" && m.nick === "tugboat" && m.params[0] === "#operations";
const text = (m: ReceivedIrcMessage) => stripFormatting(m.params[1] ?? "");

function runScript(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(SCRIPT, [], { env: { PATH: "/usr/bin:/bin", ...env }, timeout: 30_000 }, (err, stdout, stderr) => done({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
}

describe("Icinga 2 problems and recoveries through the shipped notification script", () => {
  let irc: NgircdServer;
  let bot: RunningBot;
  let icinga: IcingaServer;
  let alice: IrcTestClient;

  beforeAll(async () => {
    irc = await startNgircd({ fast: true });
    bot = await startBot({
      port: irc.port,
      config: {
        web: { port: await freePort() },
        alerts: {
          receivers: [{ name: "icinga", kind: "generic", auth: { hmac: { env: "H" } } }, { name: "nagios", kind: "generic", auth: { bearer: { env: "B" } } }],
          gatherMs: 500,
        },
      },
      alertSecrets: [{ name: "icinga", kind: "hmac", secret: HMAC_KEY }, { name: "nagios", kind: "bearer", secret: TOKEN }],
    });
    await until(() => bot.chat.status().connected, 10_000, "bot joined");
    alice = await connectClient({ host: irc.host, port: irc.port, nick: "alice" });
    await alice.join("#operations");
  }, 60_000);

  afterAll(async () => {
    alice?.destroy();
    await icinga?.stop();
    await bot?.stop();
    await irc?.stop();
  });

  it("a failing service check is announced, and its recovery, once each", async () => {
    const keyFile = join(bot.dataDir, "icinga-hmac-key");
    writeFileSync(keyFile, `${HMAC_KEY}\n`, { mode: 0o600 });
    icinga = await startIcinga({ script: SCRIPT, host: "web01", service: "disk", env: { TUGBOAT_ALERT_URL: `${bot.url}/api/alerts/icinga`, TUGBOAT_HMAC_KEY_FILE: keyFile } });
    const mark = alice.mark();
    await icinga.setState(2, "DISK CRITICAL - /srv at 97% ($(rm -rf /) `id` \"quoted\")");
    const problem = await alice.waitFor((m) => noticeFromBot(m) && /^FIRING/.test(text(m)), { since: mark, timeoutMs: 30_000 }).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${await icinga.log()}`);
    });
    // The output reaches the channel as text: no shell ever saw it.
    expect(text(problem)).toBe('FIRING [critical] disk x1 on web01: CRITICAL: DISK CRITICAL - /srv at 97% ($(rm -rf /) `id` "quoted")');
    await icinga.setState(0, "DISK OK - /srv at 41%");
    const recovery = await alice.waitFor((m) => noticeFromBot(m) && /^RESOLVED/.test(text(m)), { since: mark, timeoutMs: 30_000 });
    expect(text(recovery)).toBe("RESOLVED disk x1 on web01: OK: DISK OK - /srv at 41%");
    await new Promise((r) => setTimeout(r, 3000));
    expect(alice.messages.slice(mark).filter(noticeFromBot).map((m) => text(m).split(" ")[0])).toEqual(["FIRING", "RESOLVED"]);
    expect(await icinga.log()).toMatch(/Completed sending 'Recovery' notification 'web01!disk!tugboat'/);
  }, 60_000);

  it("the script signs each request with a timestamp; a captured request replayed to the bot is refused", async () => {
    // A recording server stands in for the bot to capture exactly what the script sends.
    const captured: Array<{ headers: Record<string, string>; body: string }> = [];
    const recorder = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c)).on("end", () => {
        captured.push({ headers: { "content-type": String(req.headers["content-type"]), "x-tugboat-signature": String(req.headers["x-tugboat-signature"]) }, body });
        res.writeHead(200, { "content-type": "application/json" }).end('{"stored":1,"alerts":1}');
      });
    });
    await new Promise<void>((r) => recorder.listen(0, "127.0.0.1", r));
    const port = (recorder.address() as { port: number }).port;
    const env = { NOTIFICATIONTYPE: "PROBLEM", HOSTNAME: "db2", SERVICEDESC: "replay-check", SERVICESTATE: "CRITICAL", SERVICEOUTPUT: "x", TUGBOAT_HMAC_KEY: HMAC_KEY };
    expect(await runScript({ ...env, TUGBOAT_ALERT_URL: `http://127.0.0.1:${port}/api/alerts/icinga` })).toMatchObject({ code: 0 });
    await new Promise((r) => recorder.close(r));
    const sent = captured[0]!;
    expect(sent.headers["x-tugboat-signature"]).toMatch(/^t=\d{10},n=[0-9a-f]{24},v1=[0-9a-f]{64}$/);
    const replay = () => fetch(`${bot.url}/api/alerts/icinga`, { method: "POST", headers: sent.headers, body: sent.body });
    const first = await replay();
    expect(first.status).toBe(200);
    const second = await replay();
    expect(second.status).toBe(401);
    expect(await second.json()).toEqual({ error: "this signature was used before (a replayed request?): sign every request anew" });
    // The script itself, run again (within the same second, likely), signs anew with a new nonce and is taken.
    expect(await runScript({ ...env, TUGBOAT_ALERT_URL: `${bot.url}/api/alerts/icinga` })).toMatchObject({ code: 0, stdout: 'tugboat-notify: delivered ({"stored":1,"alerts":1})\n' });
  }, 30_000);

  it("the script with the environment Icinga sets: bearer works, bad credentials and an unreachable bot fail loudly", async () => {
    const icingaEnv = { NOTIFICATIONTYPE: "PROBLEM", HOSTNAME: "db1", HOSTSTATE: "UP", SERVICEDESC: "mysql-lag", SERVICESTATE: "WARNING", SERVICEOUTPUT: "lag 40s\nsecond line", TUGBOAT_LABELS: "team=db" };
    const mark = alice.mark();
    const ok = await runScript({ ...icingaEnv, TUGBOAT_ALERT_URL: `${bot.url}/api/alerts/nagios`, TUGBOAT_TOKEN: TOKEN });
    expect(ok).toMatchObject({ code: 0, stdout: 'tugboat-notify: delivered ({"stored":1,"alerts":1})\n' });
    const line = await alice.waitFor((m) => noticeFromBot(m) && /mysql-lag/.test(text(m)), { since: mark, timeoutMs: 10_000 });
    expect(text(line)).toBe("FIRING [warning] mysql-lag x1 on db1: WARNING: lag 40s");

    const forged = await runScript({ ...icingaEnv, TUGBOAT_ALERT_URL: `${bot.url}/api/alerts/nagios`, TUGBOAT_TOKEN: "wrong" });
    expect(forged.code).toBe(1);
    expect(forged.stderr).toBe('tugboat-notify: refused: HTTP 401: {"error":"missing or wrong credentials (Authorization: Bearer TOKEN)"}\n');
    const down = await runScript({ ...icingaEnv, TUGBOAT_ALERT_URL: `http://127.0.0.1:${await freePort()}/api/alerts/nagios`, TUGBOAT_TOKEN: TOKEN, TUGBOAT_TRIES: "2" });
    expect(down).toMatchObject({ code: 1, stderr: "tugboat-notify: not delivered after 2 tries: connection refused\n" });
    const ack = await runScript({ ...icingaEnv, NOTIFICATIONTYPE: "ACKNOWLEDGEMENT", TUGBOAT_ALERT_URL: `${bot.url}/api/alerts/nagios`, TUGBOAT_TOKEN: TOKEN });
    expect(ack).toMatchObject({ code: 0, stdout: "tugboat-notify: ACKNOWLEDGEMENT is not announced\n" });
    const misconfigured = await runScript({ ...icingaEnv, TUGBOAT_ALERT_URL: "ftp://x", TUGBOAT_TOKEN: TOKEN });
    expect(misconfigured).toMatchObject({ code: 2, stderr: "tugboat-notify: TUGBOAT_ALERT_URL must be http(s)://BOT/api/alerts/RECEIVER\n" });
  }, 60_000);
});
