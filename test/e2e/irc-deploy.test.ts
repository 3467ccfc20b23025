// Deploys from IRC, end to end: a real IRC client types the commands into a real ngircd channel,
// the bot drives the real sshd test fleet, and the test checks the channel lines, the SAL entries,
// the deploy page and every host's `current`.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readlinkSync, writeFileSync, existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import axios from "axios";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { ConfigInput } from "../../src/config/schema.js";
import { TempDirs, UpstreamRepo } from "../fixtures/git-repos.js";
import { freePort } from "../servers/daemon.js";
import { startFleet, type Fleet } from "../servers/fleet.js";
import { startNgircd, type NgircdServer } from "../servers/ngircd.js";
import { startBot, until, type RunningBot } from "../support/bot.js";
import { connectClient, type IrcTestClient, type ReceivedIrcMessage } from "../support/irc-test-client.js";

const temp = new TempDirs();
let irc: NgircdServer;
let fleet: Fleet;
let upstream: UpstreamRepo;
let bot: RunningBot | undefined;
const clients: IrcTestClient[] = [];
/** Chosen at start-up (a fixed port may be taken on a busy CI machine). */
let SMOKE_PORT = 0;
/** Hosts whose smoke endpoint answers 503. */
const broken = new Set<string>();
let smokeServers: Server[] = [];

const live = (host: string, app: string) => {
  const h = fleet.hosts.find((x) => x.name === host)!;
  const link = join(h.srv, "deployment", app, "current");
  return existsSync(link) ? readlinkSync(link).replace("releases/", "") : null;
};
const fromBot = (m: ReceivedIrcMessage) => m.nick === "tugboat" && (m.command === "PRIVMSG" || m.command === "NOTICE");
const said = (c: IrcTestClient, since: number) => c.messages.filter((m) => m.index >= since && fromBot(m)).map((m) => m.params[1]!);


function config(): ConfigInput {
  const app = (path: string, extra: Record<string, unknown> = {}) => ({
    repo: upstream.dir, deployPath: `/srv/deployment/${path}`, targets: ["web"], canaries: ["web01"], batchSize: "50%", failureBudget: 1,
    timeouts: { restartSec: 2, promoteSec: 10, prepareSec: 60, censusSec: 10 }, ...extra,
  });
  return {
    chat: "irc",
    irc: { host: "127.0.0.1", port: irc.port, tls: false, nick: "tugboat", channels: ["#operations"], reconnect: { minDelayMs: 200, maxDelayMs: 1000, stableAfterMs: 2000 }, flood: { burst: 10, intervalMs: 100 }, maxLinesPerReply: 6 },
    roles: { deployer: ["mask:alice!*@*", "mask:bob!*@*"], admin: ["mask:bob!*@*"] },
    permissions: { deploy: { allow: ["role:deployer"] }, lock: { allow: ["role:deployer"] } },
    sal: { channels: { "#operations": {} } },
    web: { port: 0 },
    fleet: {
      transport: "ssh",
      ssh: { user: fleet.user, privateKey: { file: fleet.privateKeyPath }, knownHosts: fleet.knownHostsPath, handshakeTimeoutMs: 5000 },
      hosts: [
        ...fleet.hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, groups: ["web"] })),
        { name: "tarpit", address: fleet.tarpit!.address, port: fleet.tarpit!.port, groups: ["odd"] },
        { name: "hanging", address: fleet.hanging!.address, port: fleet.hanging!.port, groups: ["odd"] },
      ],
    },
    apps: {
      api: app("api"),
      odd: app("odd", { targets: ["web", "odd"], restart: "if [ -f /srv/HANG ]; then sleep 600; fi", failureBudget: 2, batchSize: 0 }),
      smoky: app("smoky", { smoke: [{ url: `http://{address}:${SMOKE_PORT}/`, status: 200, contains: "{sha}", timeoutMs: 2000 }] }),
      slow: app("slow", { restart: "sleep 1", batchSize: 1 }),
    },
    log: { level: "warn" },
  };
}

async function start(dataDir?: string) {
  const dir = dataDir ?? temp.make("tugboat-ircdeploy-");
  const cfg = config();
  bot = await startBot({ port: irc.port, config: cfg, irc: cfg.irc as Record<string, unknown>, sshPrivateKey: readFileSync(fleet.privateKeyPath, "utf8"), deployTiming: { progressEveryMs: 0, gateAnswerSec: 4 }, dataDir: dir });
  await until(() => bot!.chat.status().connected, 10_000, "bot joined");
  return bot;
}

async function person(nick: string) {
  const c = await connectClient({ host: irc.host, port: irc.port, nick });
  clients.push(c);
  await c.join("#operations");
  return c;
}

/** Says a command and waits for a bot line matching `until` (and returns everything the bot said since). */
async function ask(c: IrcTestClient, text: string, done: RegExp, timeoutMs = 60_000): Promise<string[]> {
  const mark = c.mark();
  c.say("#operations", text);
  await c.waitFor((m) => fromBot(m) && done.test(m.params[1] ?? ""), { since: mark, timeoutMs });
  return said(c, mark);
}

beforeAll(async () => {
  irc = await startNgircd({ fast: true });
  fleet = await startFleet({ hosts: 8, special: { tarpit: true, hangingRestart: true } });
  upstream = UpstreamRepo.create(temp.make("tugboat-upstream-"));
  const files: Record<string, string> = {};
  for (let i = 0; i < 200; i++) files[`src/f${i}.php`] = `<?php // ${i}\n`;
  upstream.commit(files, "initial");
  SMOKE_PORT = await freePort(fleet.hosts[0]!.address);
  smokeServers = await Promise.all(
    fleet.hosts.map(
      (h) =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer((_req, res) => {
            if (broken.has(h.name)) return void res.writeHead(503).end("broken");
            const rev = join(h.srv, "deployment/smoky/current/.tugboat-revision");
            res.writeHead(200).end(existsSync(rev) ? readFileSync(rev, "utf8") : "none");
          });
          s.once("error", reject);
          s.listen(SMOKE_PORT, h.address, () => resolve(s));
        }),
    ),
  );
}, 180_000);

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await bot?.stop();
  bot = undefined;
});

afterAll(async () => {
  await Promise.all(smokeServers.map((s) => new Promise((r) => s.close(r))));
  await fleet?.stop();
  await irc?.stop();
  temp.removeAll();
});

describe("deploying from IRC", () => {
  it("a good deploy: the preview, paced progress, the final line, SAL entries with the range, the deploy page, every host switched", async () => {
    const b = await start();
    const alice = await person("alice");
    const lines = await ask(alice, "!deploy api -- first release of api (T100)", /SUCCEEDED/);
    expect(lines[0]).toMatch(/^alice: shipping api nothing\.\.([0-9a-f]{7}) \(first deploy\) to 8 hosts$/);
    const sha = /\.\.([0-9a-f]{7})/.exec(lines[0]!)![1]!;
    expect(lines.some((l) => /^deploy #1 api nothing\.\.[0-9a-f]{7}: canaries 1\/1 ok$/.test(l))).toBe(true);
    const final = lines.at(-1)!;
    expect(final).toMatch(new RegExp(`^deploy #1 api nothing\\.\\.${sha}: SUCCEEDED on 8/8 hosts in [\\d.]+m?s ${b.url}/deploys/1$`));
    for (const h of fleet.hosts) expect(live(h.name, "api")?.slice(0, 7)).toBe(sha);
    const entries = (await b.app.sal.store.search({ deployId: 1, limit: 10 })).entries.map((e) => e.message).reverse();
    expect(entries).toEqual([`Started deploy api nothing..${sha} (first deploy): first release of api (T100)`, expect.stringMatching(new RegExp(`^Finished deploy api nothing\\.\\.${sha} \\(first deploy\\) to 8/8 hosts in .*: first release of api \\(T100\\)$`))]);
    const page = await axios.get(`${b.url}/deploys/1`);
    expect(page.data).toContain("first release of api");
    expect(page.data).toContain("web08");

    // a small change: the preview counts the commits and lines
    upstream.commit({ "src/f1.php": "<?php // changed\nnew line\n" }, "Change f1 (T101)");
    // !diff before shipping: the range, and a link to the page with the commits and the diff
    const diff = await ask(alice, "!diff api", /the diff: /);
    expect(diff[0]).toMatch(/^alice: api [0-9a-f]{7}\.\.[0-9a-f]{7} \(1 commit, \+2\/-1\) to 8 hosts$/);
    const url = /the diff: (\S+)$/.exec(diff.at(-1)!)![1]!;
    expect(url).toMatch(new RegExp(`^${b.url}/diff/api\\?from=${sha}[0-9a-f]{33}&to=[0-9a-f]{40}$`));
    const diffPage = (await axios.get(url)).data as string;
    expect(diffPage).toContain("Change f1 (T101)");
    expect(diffPage).toContain('<span class="add">+new line</span>');
    const status = (path: string) => axios.get(`${b.url}${path}`, { validateStatus: () => true }).then((r) => r.status);
    expect(await status("/diff/api?to=123")).toBe(400);
    expect(await status(`/diff/api?to=${"0".repeat(40)}`)).toBe(404);
    expect(await status(`/diff/nope?to=${"0".repeat(40)}`)).toBe(404);
    const second = await ask(alice, "!deploy api -- change f1", /SUCCEEDED|FAILED|ROLLED/);
    expect(second[0]).toMatch(/^alice: shipping api [0-9a-f]{7}\.\.[0-9a-f]{7} \(1 commit, \+2\/-1\) to 8 hosts$/);
    const answer = await ask(alice, "!status api", /^alice: api: /);
    expect(answer.at(-1)).toMatch(/^alice: api: 8 hosts: 8 on [0-9a-f]{7}; all match the journal/);
    // The bot connected to its fleet when it started (the 8 web hosts and the hanging one; the tarpit
    // never answers) and both deploys, the previews and !diff ran over those connections: 9 handshakes.
    const metrics = (await axios.get(`${b.url}/metrics`)).data as string;
    expect(metrics).toMatch(/^tugboat_fleet_connections_open 9$/m);
    expect(metrics).toMatch(/^tugboat_fleet_handshakes_total 9$/m);
  }, 120_000);

  it("an unreachable host and a hung one: each reported with its cause, the rest deployed", async () => {
    await start();
    const alice = await person("alice");
    const lines = await ask(alice, "!deploy odd -- odd hosts", /SUCCEEDED|FAILED|ROLLED BACK/);
    expect(lines[0]).toMatch(/^alice: shipping odd nothing\.\.[0-9a-f]{7} \(first deploy\) to 9 hosts \(1 not answering: SSH handshake timed out: tarpit\)$/);
    expect(lines.at(-1)).toMatch(/^deploy #1 odd .*: SUCCEEDED on 8\/10 hosts in .*; restart timed out: hanging; SSH handshake timed out: tarpit /);
    for (const h of fleet.hosts) expect(live(h.name, "odd")).not.toBeNull();
  }, 120_000);

  it("failed canary smoke checks answered with !rollback: the canary goes back, nothing else is touched", async () => {
    const b = await start();
    const alice = await person("alice");
    await ask(alice, "!deploy smoky -- baseline", /SUCCEEDED/);
    const before = live("web01", "smoky");
    upstream.commit({ "src/f2.php": "<?php // 2\n" }, "smoky change");
    broken.add("web01");
    try {
      const mark = alice.mark();
      alice.say("#operations", "!deploy smoky -- will fail smoke");
      await alice.waitFor((m) => fromBot(m) && /the canaries failed/.test(m.params[1] ?? ""), { since: mark, timeoutMs: 60_000 });
      const question = said(alice, mark).find((l) => /the canaries failed/.test(l))!;
      expect(question).toMatch(/^deploy #2 smoky: the canaries failed \(smoke failed: web01\)\. alice: !retry, !continue, !rollback or !abort smoky \(rolling back in 4s without an answer\)$/);
      // someone else may not answer
      const carol = await person("carol");
      expect((await ask(carol, "!rollback", /carol: /)).at(-1)).toMatch(/you may not use !rollback in #operations/);
      const lines = await ask(alice, "!rollback", /ROLLED BACK/);
      expect(lines).toContain("alice: rollback (deploy #2 smoky)");
      expect(lines.at(-1)).toMatch(/^deploy #2 smoky [0-9a-f]{7}\.\.[0-9a-f]{7}: ROLLED BACK on 0\/8 hosts in .*; smoke failed: web01; web01 back on [0-9a-f]{7} http/);
      expect(live("web01", "smoky")).toBe(before);
      expect(fleet.hosts.map((h) => live(h.name, "smoky"))).toEqual(fleet.hosts.map(() => before));
      const page = (await axios.get(`${b.url}/deploys/2`)).data as string;
      expect(page).toContain("after canaries: <strong>ROLLBACK</strong> (1 of 1 canaries failed: smoke failed: web01)");
      const entries = (await b.app.sal.store.search({ deployId: 2, limit: 10 })).entries.map((e) => e.message);
      expect(entries[0]).toMatch(/^Rolled back deploy smoky [0-9a-f]{7}\.\.[0-9a-f]{7} after .*web01 back on [0-9a-f]{7}: will fail smoke \(failed: web01\)$/);
    } finally {
      broken.delete("web01");
    }
  }, 120_000);

  it("the same left unanswered: the bot says so and rolls back", async () => {
    await start();
    const alice = await person("alice");
    await ask(alice, "!deploy smoky -- baseline", /SUCCEEDED|nothing to deploy/);
    const before = live("web01", "smoky");
    upstream.commit({ "src/f3.php": "<?php // 3\n" }, "smoky change 2");
    broken.add("web01");
    try {
      const lines = await ask(alice, "!deploy smoky -- nobody answers", /ROLLED/);
      expect(lines).toContain("deploy #2 smoky: no answer within 4s, rolling back");
      expect(live("web01", "smoky")).toBe(before);
    } finally {
      broken.delete("web01");
    }
  }, 120_000);

  it("!abort mid-rollout: no new hosts, the switched ones go back", async () => {
    const b = await start();
    const alice = await person("alice");
    const mark = alice.mark();
    alice.say("#operations", "!deploy slow -- slow one");
    await alice.waitFor((m) => fromBot(m) && /batch 1 1\/1/.test(m.params[1] ?? ""), { since: mark, timeoutMs: 60_000 });
    const lines = await ask(alice, "!abort slow", /ABORTED/);
    expect(lines.some((l) => /^alice: aborting deploy #1 slow: no new hosts; hosts already switched go back/.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^deploy #1 slow .*: ABORTED on \d\/\d hosts/);
    const switched = fleet.hosts.filter((h) => live(h.name, "slow") !== null);
    // a first deploy has no previous release: the hosts that switched say so, the rest were never touched
    expect(switched.length).toBeLessThan(8);
    const entry = (await b.app.sal.store.search({ deployId: 1, limit: 10 })).entries.map((e) => e.message);
    expect(entry[0]).toMatch(/^Aborted deploy slow nothing\.\.[0-9a-f]{7} by alice after /);
    expect(entry).toHaveLength(2);
  }, 120_000);

  it("refuses: a lock held by someone else, an unauthorized deployer, a ref that does not exist", async () => {
    const b = await start();
    const alice = await person("alice");
    const bob = await person("bob");
    const carol = await person("carol");
    expect((await ask(bob, "!lock api -- schema migration T200", /bob: /)).at(-1)).toBe("bob: locked api: schema migration T200");
    expect((await ask(alice, "!deploy api -- mine", /alice: /)).at(-1)).toMatch(/^alice: api is locked by bob \([\d.]+m?s ago\): schema migration T200$/);
    expect((await ask(carol, "!deploy api -- sneaky", /carol: /)).at(-1)).toMatch(/^carol: you may not use !deploy in #operations: needs role:deployer \(you are carol!~?carol@[\d.]+, not identified\)$/);
    expect((await ask(bob, "!unlock api", /bob: /)).at(-1)).toBe("bob: unlocked api (locked by bob: schema migration T200)");
    expect((await ask(alice, "!deploy api no-such-branch -- typo", /alice: /)).at(-1)).toMatch(/^alice: no branch, tag or commit "no-such-branch"/);
    const messages = (await b.app.sal.store.search({ limit: 10 })).entries.map((e) => e.message);
    expect(messages).toEqual(["Unlocked api", "Locked api: schema migration T200"]);
  }, 120_000);

  it("a reason with colour codes and shell metacharacters is stored clean and never executed", async () => {
    const b = await start();
    const alice = await person("alice");
    const marker = join(temp.make("tugboat-pwn-"), "pwned");
    upstream.commit({ "src/f4.php": "<?php // 4\n" }, "f4");
    const reason = `\x0304,01red\x03 \x02bold\x02 $(touch ${marker}) \`touch ${marker}\`; touch ${marker} | tee && echo`;
    const lines = await ask(alice, `!deploy api -- ${reason}`, /SUCCEEDED|FAILED|ROLLED/);
    expect(lines.at(-1)).toMatch(/SUCCEEDED/);
    expect(existsSync(marker)).toBe(false);
    const started = (await b.app.sal.store.search({ q: "Started", limit: 1 })).entries[0]!;
    expect(started.message).toMatch(/^Started deploy api [0-9a-f]{7}\.\.[0-9a-f]{7} \(\d+ commits?\): /);
    expect(started.message.endsWith(`: red bold $(touch ${marker}) \`touch ${marker}\`; touch ${marker} | tee && echo`)).toBe(true);
  }, 120_000);
});

describe("the bot killed mid-deploy and restarted", () => {
  it("announces the interrupted deploy with the fleet's true state and the choices, and the SAL records it", async () => {
    const dataDir = temp.make("tugboat-killed-");
    const file = join(dataDir, "tugboat.yaml");
    writeFileSync(file, stringify({ ...config(), web: { port: 0 } }));
    const env: NodeJS.ProcessEnv = { ...process.env, TUGBOAT_CONFIG: file, TUGBOAT_DATA_DIR: dataDir };
    delete env.TUGBOAT_LOG_LEVEL;
    const bin = join(import.meta.dirname, "..", "..", "bin", "tugboat.js");
    const spawnBot = (): ChildProcess => spawn(process.execPath, [bin, "start"], { env, stdio: ["ignore", "ignore", "pipe"] });
    const alice = await person("alice");
    let child = spawnBot();
    try {
      await alice.waitFor((m) => m.command === "JOIN" && m.nick === "tugboat", { since: 0, timeoutMs: 20_000 });
      const mark = alice.mark();
      alice.say("#operations", "!deploy slow -- to be interrupted");
      // Production pacing: one progress line per 30 s at most; kill a few hosts into the rollout.
      await alice.waitFor((m) => fromBot(m) && /canaries 1\/1 ok/.test(m.params[1] ?? ""), { since: mark, timeoutMs: 60_000 });
      await new Promise((r) => setTimeout(r, 2500));
      child.kill("SIGKILL");
      await new Promise((r) => child.once("close", r));
      const mark2 = alice.mark();
      child = spawnBot();
      const note = await alice.waitFor((m) => fromBot(m) && /was interrupted/.test(m.params[1] ?? ""), { since: mark2, timeoutMs: 30_000 });
      expect(note.params[1]).toMatch(/^deploy #1 slow by alice was interrupted when the bot stopped\. Now: 8 hosts: \d on (no release|[0-9a-f]{7}), \d on (no release|[0-9a-f]{7}) \(web.*\)(; drift: .*)?\. !deploy slow to finish it, or !rollback slow -- REASON$/);
      // every host's current is a complete release or absent
      for (const h of fleet.hosts) {
        const rel = live(h.name, "slow");
        if (rel) expect(existsSync(join(h.srv, "deployment/slow/releases", rel, ".tugboat-complete"))).toBe(true);
      }
      // 8 one-host stages with a 1 s restart each: slow by design, and slower on a loaded machine.
      const lines = await ask(alice, "!deploy slow -- finish it", /SUCCEEDED|FAILED|ROLLED/, 200_000);
      expect(lines.at(-1)).toMatch(/^deploy #2 slow .*: SUCCEEDED on 8\/8 hosts/);
      const db = new Database(join(dataDir, "sal.sqlite3"), { readonly: true });
      const messages = (db.prepare("SELECT message FROM entries ORDER BY id").all() as Array<{ message: string }>).map((r) => r.message);
      db.close();
      // (the slow app may have a release from the !abort test before: the range starts there or at nothing)
      expect(messages[0]).toMatch(/^Started deploy slow (nothing|[0-9a-f]{7})\.\.[0-9a-f]{7} \((first deploy|\d+ commits?)\): to be interrupted$/);
      expect(messages[1]).toMatch(/^Interrupted deploy slow (nothing|[0-9a-f]{7})\.\.[0-9a-f]{7} \(the bot stopped\): 8 hosts: .*: to be interrupted$/);
    } finally {
      child.kill("SIGKILL");
    }
  }, 420_000);
});
