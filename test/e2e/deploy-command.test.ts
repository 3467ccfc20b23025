// `tugboat deploy|rollback|status|lock|unlock` as a user runs them, on the local transport.
import { existsSync, mkdirSync, readlinkSync, writeFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { describe, expect, it, type TestContext } from "vitest";
import { SqliteSalStore } from "../../src/sal/sqlite-store.js";
import { TempDirs, UpstreamRepo } from "../fixtures/git-repos.js";
import { cleanEnv, consoleConfig, freePort, runCli, tempDir, writeConfig } from "./harness.js";
import { spawn } from "node:child_process";

const BIN = join(import.meta.dirname, "..", "..", "bin", "tugboat.js");

/** A data directory with a config for one app (a fresh upstream at v1) on local hosts; its env. */
function appFixture(t: TestContext, config: { hosts: Array<{ name: string; groups?: string[] }>; app?: Record<string, unknown>; top?: Record<string, unknown> }) {
  const temp = new TempDirs();
  t.onTestFinished(() => temp.removeAll());
  const dataDir = tempDir(t);
  const upstream = UpstreamRepo.create(temp.make());
  upstream.commit({ "index.html": "v1\n" }, "v1");
  const file = writeConfig(dataDir, {
    chat: "console",
    ...config.top,
    fleet: { transport: "local", localRoot: "fleet", hosts: config.hosts },
    apps: { app: { repo: upstream.dir, deployPath: "/srv/app", targets: config.hosts.map((h) => h.name), ...config.app } },
  });
  return { dataDir, upstream, env: cleanEnv({ TUGBOAT_DATA_DIR: dataDir, TUGBOAT_CONFIG: file }) };
}

describe("tugboat deploy with the embedded default", () => {
  it("deploys the demo app to the demo fleet, reports status, and rolls back", async (t) => {
    const env = cleanEnv({ TUGBOAT_DATA_DIR: tempDir(t) });
    const first = await runCli(["deploy", "demo", "-m", "try it"], { env, timeoutMs: 60_000 });
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^deploy #1 demo nothing\.\.[0-9a-f]{7}: succeeded: 6\/6 hosts ok in /m);
    const status = await runCli(["status", "demo"], { env });
    expect(status.stdout).toMatch(/^demo: 6 hosts: 6 on [0-9a-f]{7}; all match the journal/);
    const noReason = await runCli(["deploy", "demo"], { env });
    expect(noReason).toMatchObject({ code: 1, stderr: 'tugboat: a reason is required: tugboat deploy demo -m "why"\n' });
    const rollback = await runCli(["rollback", "demo", "-m", "no previous"], { env });
    expect(rollback.code).toBe(1);
    expect(rollback.stderr).toBe("tugboat: no previous release of demo to roll back to\n");
  }, 90_000);
});

describe("a deploy killed mid-rollout", () => {
  it("leaves a true journal, no host on an incomplete release, a stale deploy that status reports and unlock clears", async (t) => {
    const temp = new TempDirs();
    t.onTestFinished(() => temp.removeAll());
    const dataDir = tempDir(t);
    const upstream = UpstreamRepo.create(temp.make());
    const files: Record<string, string> = {};
    for (let i = 0; i < 200; i++) files[`f${i}.txt`] = `v1 ${i}\n`;
    upstream.commit(files, "v1");
    const hosts = Array.from({ length: 8 }, (_, i) => ({ name: `web${i + 1}`, groups: ["web"] }));
    const config = writeConfig(dataDir, {
      chat: "console",
      fleet: { transport: "local", localRoot: "fleet", hosts },
      apps: { app: { repo: upstream.dir, deployPath: "/srv/app", targets: ["web"], canaries: ["web1"], batchSize: 1, restart: "sleep 0.4" } },
    });
    const env = cleanEnv({ TUGBOAT_DATA_DIR: dataDir, TUGBOAT_CONFIG: config });
    expect((await runCli(["deploy", "app", "-m", "ship v1"], { env, timeoutMs: 60_000 })).code).toBe(0);
    upstream.commit({ "f1.txt": "v2\n" }, "v2");

    const child = spawn(process.execPath, [BIN, "deploy", "app", "-m", "v2, to be killed"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`never reached batch 3: ${out}`)), 60_000);
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (/batch 3/.test(out)) {
          clearTimeout(timer);
          child.kill("SIGKILL");
          resolve();
        }
      });
    });
    await new Promise((r) => child.once("close", r));

    // Every host's current points at a complete release.
    for (const h of hosts) {
      const base = join(dataDir, "fleet", h.name, "srv/app");
      const target = readlinkSync(join(base, "current"));
      expect(existsSync(join(base, target, ".tugboat-complete"))).toBe(true);
    }
    const status = await runCli(["status", "app"], { env });
    expect(status.stdout).toMatch(/^app: 8 hosts: \d on [0-9a-f]{7}, \d on [0-9a-f]{7} \(web.*\); drift: \d not on [0-9a-f]{7}, the journal's live release/m);
    expect(status.stdout).toMatch(/^running: deploy #2 by .* \(STALE: its process is gone\)$/m);
    const blocked = await runCli(["deploy", "app", "-m", "again"], { env, timeoutMs: 60_000 });
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/deploy #2 of app .* is marked running but its process \d+ is gone: a stale lock; unlock app to clear it/);
    const unlock = await runCli(["unlock", "app"], { env });
    expect(unlock.stdout).toMatch(/^cleared stale deploy #2 .*: marked interrupted$/m);
    const again = await runCli(["deploy", "app", "-m", "again"], { env, timeoutMs: 60_000 });
    expect(again.code).toBe(0);
    expect((await runCli(["status", "app"], { env })).stdout).toMatch(/^app: 8 hosts: 8 on [0-9a-f]{7}; all match the journal/);
  }, 180_000);

  it("lock and unlock: a freeze refuses deploys with who and why", async (t) => {
    const env = cleanEnv({ TUGBOAT_DATA_DIR: tempDir(t) });
    expect((await runCli(["lock", "all", "-m", "incident T99", "--nick", "carol"], { env })).stdout).toBe("locked all deploys (global freeze): incident T99\n");
    const refused = await runCli(["deploy", "demo", "-m", "try anyway", "--nick", "alice"], { env, timeoutMs: 60_000 });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^tugboat: all deploys are frozen by carol \d+(\.\d)?m?s ago: incident T99\n$/);
    expect((await runCli(["unlock", "all"], { env })).stdout).toMatch(/^unlocked all \(locked by carol/);
  }, 90_000);
});

describe("the SAL of deploys run from a terminal", () => {
  it("records every deploy, rollback, lock and unlock with its commit range, as the bot words them", async (t) => {
    const { dataDir, upstream, env } = appFixture(t, { hosts: [{ name: "h1" }, { name: "h2" }] });
    const cli = async (...args: string[]) => {
      const r = await runCli([...args, "--nick", "dana"], { env, timeoutMs: 60_000 });
      expect(r).toMatchObject({ code: 0, stderr: "" });
      return r.stdout;
    };
    await cli("deploy", "app", "-m", "ship v1");
    upstream.commit({ "index.html": "v2\n", "new.txt": "x\n" }, "v2");
    upstream.commit({ "new.txt": "y\n" }, "v2.1");
    await cli("deploy", "app", "-m", "ship v2 (T123)");
    await cli("rollback", "app", "-m", "v2 breaks logins");
    await cli("lock", "app", "-m", "investigating logins");
    await cli("unlock", "app");
    const store = new SqliteSalStore(join(dataDir, "sal.sqlite3"), () => new Date());
    t.onTestFinished(() => store.close());
    const entries = (await store.search({ limit: 20 })).entries.reverse();
    expect(entries.map((e) => e.message)).toEqual([
      expect.stringMatching(/^Started deploy app nothing\.\.[0-9a-f]{7} \(first deploy\): ship v1$/),
      expect.stringMatching(/^Finished deploy app nothing\.\.[0-9a-f]{7} \(first deploy\) to 2\/2 hosts in [\d.]+m?s: ship v1$/),
      expect.stringMatching(/^Started deploy app [0-9a-f]{7}\.\.[0-9a-f]{7} \(2 commits\): ship v2 \(T123\)$/),
      expect.stringMatching(/^Finished deploy app [0-9a-f]{7}\.\.[0-9a-f]{7} \(2 commits, \+2\/-1\) to 2\/2 hosts in [\d.]+m?s: ship v2 \(T123\)$/),
      expect.stringMatching(/^Rolled back app to [0-9a-f]{7} on 2 hosts in [\d.]+m?s: v2 breaks logins$/),
      "Locked app: investigating logins",
      "Unlocked app",
    ]);
    // Who and how: the nick given, from the terminal's user and host; linked to the deploy, with the task.
    for (const e of entries) expect(e).toMatchObject({ nick: "dana", source: "cli", identity: `${userInfo().username}@${hostname()}`, channel: "#operations" });
    expect(entries.map((e) => e.deployId)).toEqual([1, 1, 2, 2, 3, null, null]);
    expect(entries[3]!.task).toBe("T123");
    // The range is the deploy's: v1's release up to v2.1.
    const [from, to] = /([0-9a-f]{7})\.\.([0-9a-f]{7})/.exec(entries[3]!.message)!.slice(1);
    expect(entries[4]!.message).toContain(`to ${from} `);
    expect(from).not.toBe(to);
  }, 180_000);

  it("a running bot announces them in its channel, once", async (t) => {
    const { dataDir, env } = appFixture(t, { hosts: [{ name: "h1" }], top: consoleConfig(await freePort()) });
    writeFileSync(join(dataDir, "api-token"), "token\n");
    const bot = spawn(process.execPath, [BIN, "start"], { env, stdio: ["pipe", "pipe", "pipe"] });
    t.onTestFinished(() => void bot.kill("SIGKILL"));
    let out = "";
    bot.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const seen = (re: RegExp, what: string) =>
      new Promise<void>((resolve, reject) => {
        const started = Date.now();
        const check = setInterval(() => {
          if (re.test(out)) return clearInterval(check), resolve();
          if (Date.now() - started > 30_000) clearInterval(check), reject(new Error(`no ${what} in the bot's output:\n${out}`));
        }, 50);
      });
    bot.stdin.write("!log the bot is up\n");
    await seen(/<tugboat> you: Logged the message/, "answer to !log");
    const r = await runCli(["deploy", "app", "-m", "ship v1 from a terminal", "--nick", "dana"], { env, timeoutMs: 60_000 });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    await seen(/-tugboat- SAL: dana \(via [^)]+\): Finished deploy app /, "announcement of the terminal's deploy");
    bot.stdin.end();
    await new Promise((resolve) => bot.once("close", resolve));
    const announced = out.split("\n").filter((l) => l.includes("-tugboat- SAL: "));
    expect(announced).toEqual([
      expect.stringMatching(new RegExp(`^#operations -tugboat- SAL: dana \\(via ${userInfo().username}@${hostname()}\\): Started deploy app nothing\\.\\.[0-9a-f]{7} \\(first deploy\\): ship v1 from a terminal <http://127\\.0\\.0\\.1:\\d+/log/2>$`)),
      expect.stringMatching(/^#operations -tugboat- SAL: dana \(via .*\): Finished deploy app nothing\.\.[0-9a-f]{7} \(first deploy\) to 1\/1 hosts in .*: ship v1 from a terminal <http:\/\/127\.0\.0\.1:\d+\/log\/3>$/),
    ]);
  }, 120_000);

  it("a SAL that cannot be opened stops the command before it touches the fleet", async (t) => {
    const dataDir = tempDir(t);
    mkdirSync(join(dataDir, "sal.sqlite3"));
    const env = cleanEnv({ TUGBOAT_DATA_DIR: dataDir });
    const r = await runCli(["deploy", "demo", "-m", "try it"], { env, timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tugboat: cannot open the SAL at .*sal\.sqlite3, so nothing was done: /);
    expect((await runCli(["status", "demo"], { env })).stdout).toMatch(/^demo: 6 hosts: 6 on no release/);
  }, 90_000);

  it("a reason is checked as in the channel: a few characters at least", async (t) => {
    const env = cleanEnv({ TUGBOAT_DATA_DIR: tempDir(t) });
    expect(await runCli(["deploy", "demo", "-m", "x"], { env })).toMatchObject({ code: 1, stderr: 'tugboat: say why (at least a few words): tugboat deploy demo -m "why"\n' });
  }, 30_000);
});

describe("!deploy in the terminal chat", () => {
  it("an app that requires confirmation waits for !yes from the same person, then ships", async (t) => {
    const { dataDir, env } = appFixture(t, { hosts: [{ name: "h1", groups: ["web"] }, { name: "h2", groups: ["web"] }], app: { targets: ["web"], confirm: true }, top: consoleConfig(await freePort()) });
    writeFileSync(join(dataDir, "api-token"), "token\n");
    const r = await runCli(["start"], { env, input: "!yes\n!deploy app -- needs a yes\n!status app\n!yes\n", timeoutMs: 60_000 });
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("#operations <tugboat> you: nothing to confirm (a !deploy waits for !yes from the same account for a limited time)");
    expect(lines[1]).toMatch(/^#operations <tugboat> you: will ship app nothing\.\.[0-9a-f]{7} \(first deploy\) to 2 hosts: say !yes within 60s to start$/);
    expect(lines[2]).toBe("#operations <tugboat> you: app: 2 hosts: 2 on no release");
    expect(lines[3]).toMatch(/^#operations <tugboat> you: shipping app nothing\.\.[0-9a-f]{7} \(first deploy\) to 2 hosts$/);
    expect(r.stdout).toMatch(/-tugboat- deploy #1 app nothing\.\.[0-9a-f]{7}: SUCCEEDED on 2\/2 hosts/);
    expect(readlinkSync(join(dataDir, "fleet", "h2", "srv/app/current"))).toMatch(/^releases\/[0-9a-f]{40}$/);
  }, 90_000);
});
