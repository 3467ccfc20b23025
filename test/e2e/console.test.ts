// `tugboat start` with the console chat, driven through stdin as a script would: the replies on
// stdout, the entry in SQLite afterwards, the embedded default, a busy port, and SIGTERM.

import Database from "better-sqlite3";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "vitest";
import { cleanEnv, consoleConfig, freePort, holdPort, runCli, startCli, tempDir, writeConfig } from "./harness.js";

const SCRIPT = "!log restarted memcached on mc1004 (T1234)\n!help\n";

interface Row {
  id: number;
  nick: string;
  channel: string;
  message: string;
  source: string;
  task: string | null;
}

function entries(dataDir: string): Row[] {
  const db = new Database(join(dataDir, "sal.sqlite3"), { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT id, nick, channel, message, source, task FROM entries ORDER BY id").all() as Row[];
  } finally {
    db.close();
  }
}

describe.concurrent("tugboat start with the console chat", () => {
  it("answers piped !log and !help, exits 0 at end of input, and the entry is in SQLite", async (t) => {
    const dir = tempDir(t);
    const port = await freePort();
    const config = writeConfig(dir, consoleConfig(port));
    writeFileSync(join(dir, "api-token"), "t0ken\n");
    const r = await runCli(["--config", config, "start"], { env: cleanEnv({ TUGBOAT_DATA_DIR: dir }), input: SCRIPT });
    t.expect(r.code).toBe(0);
    t.expect(r.stdout).toBe(
      `#operations <tugboat> you: Logged the message at http://127.0.0.1:${port}/log/1\n` +
        `#operations <tugboat> you: Commands: !log !deploy !rollback !status !diff !abort !lock !unlock !yes !retry !continue !alerts !silence !unsilence !graphs !help. Say !help COMMAND for one; all of them: http://127.0.0.1:${port}/help\n`,
    );
    t.expect(r.stderr).toBe(`tugboat: web UI at http://127.0.0.1:${port}, console chat, data in ${dir}\n`);
    t.expect(entries(dir)).toEqual([{ id: 1, nick: "you", channel: "#operations", message: "restarted memcached on mc1004 (T1234)", source: "console", task: "T1234" }]);
  });

  it("runs with no config at all (the embedded default on 127.0.0.1:8080), or says clearly that 8080 is taken", async (t) => {
    // 8080 may be in use on a CI machine; then the error must name it. Either way this is one real run.
    const dir = join(tempDir(t), "state");
    const r = await runCli(["start"], { env: cleanEnv({ TUGBOAT_DATA_DIR: dir }), input: SCRIPT });
    if (r.code === 2) {
      t.expect(r.stderr).toBe("tugboat: web: 127.0.0.1:8080 is already in use (set web.port in the config)\n");
      await t.annotate("port 8080 was in use: checked the error instead of a run");
      return;
    }
    t.expect(r.code).toBe(0);
    t.expect(r.stdout).toContain("#operations <tugboat> you: Logged the message at http://127.0.0.1:8080/log/1\n");
    t.expect(r.stdout).toContain("you: Commands: !log !deploy !rollback !status !diff !abort !lock !unlock !yes !retry !continue !alerts !silence !unsilence !graphs !help.");
    t.expect(entries(dir).map((e) => e.message)).toEqual(["restarted memcached on mc1004 (T1234)"]);
    // The API token the default names is created on first start, readable only by its owner.
    t.expect(readFileSync(join(dir, "api-token"), "utf8")).toMatch(/^[\w-]{32}\n$/);
    t.expect(statSync(join(dir, "api-token")).mode & 0o777).toBe(0o600);
  });

  it("a web port in use exits 2 with a message naming the port, not a stack trace", async (t) => {
    const dir = tempDir(t);
    const port = await holdPort(t);
    const config = writeConfig(dir, consoleConfig(port));
    writeFileSync(join(dir, "api-token"), "t0ken\n");
    const r = await runCli(["--config", config, "start"], { env: cleanEnv({ TUGBOAT_DATA_DIR: dir }), input: SCRIPT });
    t.expect(r).toMatchObject({ code: 2, stdout: "", stderr: `tugboat: web: 127.0.0.1:${port} is already in use (set web.port in the config)\n` });
  });

  it("SIGTERM stops a running bot with exit code 0 within a few seconds, closing the store cleanly", async (t) => {
    const dir = tempDir(t);
    const config = writeConfig(dir, consoleConfig(await freePort()));
    writeFileSync(join(dir, "api-token"), "t0ken\n");
    const bot = await startCli(t, ["--config", config], { env: cleanEnv({ TUGBOAT_DATA_DIR: dir }) });
    bot.child.stdin.write("!log before SIGTERM\n");
    await bot.waitForStdout(/Logged the message at .*\/log\/1$/);
    const sent = Date.now();
    bot.child.kill("SIGTERM");
    const exit = await bot.exited;
    t.expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    t.expect(exit.at - sent).toBeLessThan(5000);
    // The last connection closed checkpoints the WAL and removes it.
    t.expect(existsSync(join(dir, "sal.sqlite3-wal"))).toBe(false);
    t.expect(readFileSync(join(dir, "tugboat.log"), "utf8")).toContain('"reason":"SIGTERM","msg":"stopping"');
    t.expect(entries(dir).map((e) => e.message)).toEqual(["before SIGTERM"]);
  });
});
