// `tugboat log MESSAGE` as a script runs it: against a running bot (console chat, stdin held open),
// with the API token from the data directory; a wrong token (no retry); no bot at all (retries, then 1).

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "vitest";
import { cleanEnv, consoleConfig, freePort, runCli, startCli, tempDir, writeConfig, type RunningCli } from "./harness.js";

interface ApiEntry {
  id: number;
  nick: string;
  channel: string | null;
  message: string;
  source: string;
  identity: string | null;
  task: string | null;
  url: string;
}

async function startBot(t: TestContext): Promise<{ bot: RunningCli; dir: string; config: string; port: number; env: NodeJS.ProcessEnv }> {
  const dir = tempDir(t);
  const port = await freePort();
  const config = writeConfig(dir, consoleConfig(port, "deploy@e2e"));
  writeFileSync(join(dir, "api-token"), "e2e-token-0123456789\n", { mode: 0o600 });
  const env = cleanEnv({ TUGBOAT_DATA_DIR: dir });
  const bot = await startCli(t, ["--config", config], { env });
  return { bot, dir, config, port, env };
}

describe.concurrent("tugboat log", () => {
  it("logs through the running bot with the data directory's token, and the bot announces it", async (t) => {
    const { bot, config, port, env } = await startBot(t);
    // No --url: the address comes from the config's web.port; no --token-file: {data dir}/api-token.
    const r = await runCli(["--config", config, "log", "scap", "sync-world:", "deployed", "1.45.0-wmf.3", "(T4242)"], { env });
    t.expect(r).toMatchObject({ code: 0, stdout: `Logged the message at http://127.0.0.1:${port}/log/1\n`, stderr: "" });

    const res = await fetch(`${bot.url}/api/sal`);
    const { entries } = (await res.json()) as { entries: ApiEntry[] };
    t.expect(entries).toEqual([
      t.expect.objectContaining({
        id: 1,
        nick: "deploy",
        identity: "deploy@e2e",
        source: "api",
        channel: "#operations",
        message: "scap sync-world: deployed 1.45.0-wmf.3 (T4242)",
        task: "T4242",
        url: `http://127.0.0.1:${port}/log/1`,
      }),
    ]);
    const notice = await bot.waitForStdout(/^#operations -tugboat- SAL:/);
    t.expect(notice).toBe(`#operations -tugboat- SAL: deploy (via deploy@e2e): scap sync-world: deployed 1.45.0-wmf.3 (T4242) <http://127.0.0.1:${port}/log/1>`);

    // On a deploy host the config is the bot's production one: log takes only web.publicUrl from it and
    // needs none of the bot's secrets (here an unset SASL variable and an unreadable token file).
    const production = writeConfig(tempDir(t), {
      chat: "irc",
      irc: { host: "irc.example.org", channels: ["#operations"], sasl: { account: "tugboat", password: { env: "TUGBOAT_SASL_PASSWORD" } } },
      api: { tokens: [{ name: "scap@deploy1001", token: { file: "/nonexistent/scap.token" } }] },
      web: { publicUrl: bot.url },
    });
    const fromScript = await runCli(["--config", production, "log", "--project", "memcached", "flushed mc1004"], { env: { ...env, TUGBOAT_TOKEN: "e2e-token-0123456789" } });
    t.expect(fromScript).toMatchObject({ code: 0, stdout: `Logged the message at ${bot.url}/log/2\n`, stderr: "" });
    await bot.waitForStdout(/SAL: deploy \(via deploy@e2e\): \[memcached\] flushed mc1004 </);
  });

  it("a wrong token exits 1 with the server's 401 reason, without retrying", async (t) => {
    const { bot, dir, env } = await startBot(t);
    const wrong = join(dir, "wrong-token");
    writeFileSync(wrong, "not-the-token\n");
    const r = await runCli(["--url", bot.url, "--token-file", wrong, "log", "should not be logged"], { env });
    t.expect(r).toMatchObject({
      code: 1,
      stdout: "",
      stderr: `tugboat: could not log to ${bot.url}/api/log after 1 try: the server answered 401: missing or wrong API token (Authorization: Bearer TOKEN)\n`,
    });
    // The same through TUGBOAT_TOKEN, which takes the place of the token file.
    const viaEnv = await runCli(["--url", bot.url, "log", "should not be logged"], { env: { ...env, TUGBOAT_TOKEN: "also-wrong" } });
    t.expect(viaEnv.code).toBe(1);
    t.expect(viaEnv.stderr).toContain("after 1 try: the server answered 401");
    const { entries } = (await (await fetch(`${bot.url}/api/sal`)).json()) as { entries: ApiEntry[] };
    t.expect(entries).toEqual([]);
  });

  it("with no bot listening, retries --tries times and exits 1 saying the connection was refused", async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, "api-token"), "e2e-token\n");
    const url = `http://127.0.0.1:${await freePort()}`; // nothing listens there now
    const r = await runCli(["--url", url, "--tries", "2", "log", "into the void"], { env: cleanEnv({ TUGBOAT_DATA_DIR: dir }) });
    t.expect(r).toMatchObject({
      code: 1,
      stdout: "",
      stderr:
        "tugboat log: connection refused (is tugboat running at that address?); retrying in 500 ms (try 2/2)\n" +
        `tugboat: could not log to ${url}/api/log after 2 tries: connection refused (is tugboat running at that address?)\n`,
    });
  });
});
