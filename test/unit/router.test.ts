import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineCommand } from "../../src/chat/command.js";
import { parseCommandLine } from "../../src/chat/router.js";
import { RemoteError } from "../../src/errors.js";
import { commands } from "../../commands/index.js";
import { fakeBot, testConfig } from "../support/fake-services.js";

describe("parseCommandLine", () => {
  it.each([
    ["!log restarted x", false, { name: "log", args: "restarted x" }],
    ["!LOG  spaced   out ", false, { name: "log", args: "spaced   out" }],
    ["tugboat: log hi", false, { name: "log", args: "hi" }],
    ["TugBoat, help", false, { name: "help", args: "" }],
    ["\x02!log\x02 bold", false, { name: "log", args: "bold" }],
    ["help log", true, { name: "help", args: "log" }],
    ["!help", true, { name: "help", args: "" }],
    ["help log", false, null],
    ["someone: log hi", false, null],
    ["!", false, null],
    ["! log", false, null],
    ["!!!", false, null],
  ])("%j (private %s)", (text, isPrivate, expected) => {
    expect(parseCommandLine(text, "tugboat", isPrivate)).toEqual(expected);
  });
});

describe("Router", () => {
  it("logs, then acknowledges with the permalink, addressing the sender", async () => {
    const bot = fakeBot();
    await bot.chat.deliver("#operations", "!log restarted memcached on mc1004 (T1234)", { nick: "alice" });
    expect(bot.store.entries).toHaveLength(1);
    expect(bot.store.entries[0]).toMatchObject({ nick: "alice", mask: "alice!alice@ops.example.org", channel: "#operations", task: "T1234", source: "irc" });
    expect(bot.chat.lines("#operations")).toEqual(["alice: Logged the message at https://sal.test/log/1"]);
  });

  it("does not acknowledge when the store fails, and says so with a reference", async () => {
    const bot = fakeBot();
    bot.store.failNext = 1;
    await bot.chat.deliver("#operations", "!log something");
    expect(bot.store.entries).toHaveLength(0);
    expect(bot.chat.lines()[0]).toMatch(/^alice: internal error \(ref [0-9a-f]{8}\)$/);
    expect(bot.outcomes).toEqual([["log", "error"]]);
  });

  it("refuses !log outside SAL channels, empty and over-long messages", async () => {
    const bot = fakeBot();
    await bot.chat.deliver("#other", "!log hello");
    await bot.chat.deliver("tugboat", "!log hello");
    await bot.chat.deliver("#operations", "!log    ");
    await bot.chat.deliver("#operations", `!log ${"x".repeat(1001)}`);
    await bot.chat.deliver("#operations", "!log \x02\x03\x0f");
    expect(bot.store.entries).toHaveLength(0);
    const lines = bot.chat.lines();
    expect(lines[0]).toBe("alice: not logging here (the SAL channels: #operations)");
    expect(lines[1]).toBe("not logging here (the SAL channels: #operations)");
    expect(lines[2]).toMatch(/^alice: say what you did \(usage: !log MESSAGE/);
    expect(lines[3]).toBe("alice: the message is too long: 1001 characters, the limit is 1000");
    expect(lines[4]).toMatch(/^alice: say what you did/);
  });

  it("requires a known project where the channel says so, with did-you-mean", async () => {
    const bot = fakeBot({ config: testConfig({ sal: { channels: { "#operations": { requireProject: true } }, projects: ["mediawiki", "puppet"] } }) });
    await bot.chat.deliver("#operations", "!log mediawki synced");
    await bot.chat.deliver("#operations", "!log puppet disabled on cp1001");
    expect(bot.chat.lines()[0]).toBe('alice: unknown project "mediawki" (did you mean mediawiki?); known: mediawiki, puppet');
    expect(bot.store.entries.map((e) => [e.project, e.message])).toEqual([["puppet", "disabled on cp1001"]]);
  });

  it("ignores notices, itself, configured bots, other channels, and commands while off the primary nick", async () => {
    const bot = fakeBot({ config: testConfig({ irc: { host: "h", channels: ["#operations"], ignore: ["*bot!*@*"] } }) });
    await bot.chat.deliver("#operations", "!log from a notice", {}, "notice");
    await bot.chat.deliver("#operations", "!log myself", { nick: "tugboat" });
    await bot.chat.deliver("#operations", "!log from a bot", { nick: "stashbot" });
    await bot.chat.deliver("#elsewhere", "!log wrong channel");
    bot.chat.nick = "tugboat_";
    await bot.chat.deliver("#operations", "!log while on the alternate nick");
    expect(bot.store.entries).toHaveLength(0);
    expect(bot.chat.sent).toHaveLength(0);
  });

  it("answers unknown commands only when addressed or in private", async () => {
    const bot = fakeBot();
    await bot.chat.deliver("#operations", "!frobnicate");
    await bot.chat.deliver("#operations", "tugboat: frobnicate");
    await bot.chat.deliver("tugboat", "frobnicate");
    expect(bot.chat.lines()).toEqual(['alice: unknown command "frobnicate"; try !help', 'unknown command "frobnicate"; try !help']);
  });

  it("refuses unauthorised users with the reason, deny winning over allow", async () => {
    const config = testConfig({
      roles: { ops: ["account:carol", "mask:*!*@wikimedia/*"] },
      permissions: { log: { allow: ["role:ops"], deny: ["mask:mallory!*@*"] } },
    });
    const bot = fakeBot({ config });
    await bot.chat.deliver("#operations", "!log by a stranger", { nick: "eve", host: "evil.example" });
    await bot.chat.deliver("#operations", "!log by mallory", { nick: "mallory", host: "wikimedia/mallory" });
    await bot.chat.deliver("#operations", "!log by carol", { nick: "carol", account: "Carol" });
    await bot.chat.deliver("#operations", "!log by dan", { nick: "dan", host: "wikimedia/dan" });
    expect(bot.store.entries.map((e) => e.nick)).toEqual(["carol", "dan"]);
    const lines = bot.chat.lines();
    expect(lines[0]).toBe("eve: you may not use !log in #operations: needs role:ops (you are eve!alice@evil.example, not identified)");
    expect(lines[1]).toBe("mallory: you may not use !log in #operations: denied by mask:mallory!*@*");
    expect(bot.outcomes.filter(([, o]) => o === "refused")).toHaveLength(2);
  });

  it("answers a command that throws or hangs with a reference, and keeps working", async () => {
    const boom = defineCommand({ name: "boom", summary: "s", usage: "!boom", permission: "boom", defaultRule: { allow: ["anyone"], deny: [] }, args: z.string(), run: async () => { throw new TypeError("bug"); } });
    const hang = defineCommand({ name: "hang", summary: "s", usage: "!hang", permission: "hang", defaultRule: { allow: ["anyone"], deny: [] }, args: z.string(), run: () => new Promise(() => {}) });
    const remote = defineCommand({ name: "remote", summary: "s", usage: "!remote", permission: "remote", defaultRule: { allow: ["anyone"], deny: [] }, args: z.string(), run: async () => { throw new RemoteError("web3", "connection refused"); } });
    const bot = fakeBot({ commands: [...commands, boom, hang, remote], timeoutMs: 50 });
    await bot.chat.deliver("#operations", "!boom");
    await bot.chat.deliver("#operations", "!hang");
    await bot.chat.deliver("#operations", "!remote");
    await bot.chat.deliver("#operations", "!log still alive");
    const lines = bot.chat.lines();
    expect(lines[0]).toMatch(/^alice: internal error \(ref [0-9a-f]{8}\)$/);
    expect(lines[1]).toMatch(/^alice: !hang timed out after 0s \(ref [0-9a-f]{8}\)$/);
    expect(lines[2]).toMatch(/^alice: !remote failed: web3: connection refused \(ref [0-9a-f]{8}\)$/);
    expect(lines[3]).toBe("alice: Logged the message at https://sal.test/log/1");
  });

  it("caps long replies with a link to the whole text, each line within the byte budget", async () => {
    const many = defineCommand({ name: "many", summary: "s", usage: "!many", permission: "many", defaultRule: { allow: ["anyone"], deny: [] }, args: z.string(), run: async () => ({ lines: Array.from({ length: 50 }, (_, i) => `line ${i} ${"é".repeat(300)}`) }) });
    const bot = fakeBot({ commands: [many] });
    await bot.chat.deliver("#operations", "!many");
    const lines = bot.chat.lines();
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/^alice: \(\d+ more: https:\/\/sal\.test\/reply\/1\)$/);
    for (const l of lines) expect(Buffer.byteLength(l)).toBeLessThanOrEqual(bot.chat.budget("#operations", false));
    expect(bot.kept[0]).toHaveLength(50);
  });

  it("generates !help from the registry", async () => {
    const bot = fakeBot();
    await bot.chat.deliver("#operations", "!help");
    await bot.chat.deliver("#operations", "!help !log");
    await bot.chat.deliver("#operations", "!help lgo");
    const lines = bot.chat.lines();
    expect(lines[0]).toBe("alice: Commands: !log !deploy !rollback !status !diff !abort !lock !unlock !yes !retry !continue !alerts !silence !unsilence !graphs !help. Say !help COMMAND for one; all of them: https://sal.test/help");
    expect(lines[1]).toMatch(/^alice: !log MESSAGE .*: write an entry in the Server Admin Log$/);
    expect(lines[2]).toBe("alice: no command !lgo (did you mean !log?)");
  });
});

describe("command registry", () => {
  it("has unique names and aliases, and every command is documented", () => {
    const names = commands.flatMap((c) => [c.name, ...c.aliases]);
    expect(new Set(names).size).toBe(names.length);
    for (const c of commands) {
      expect(c.summary.length).toBeGreaterThan(5);
      expect(c.usage.startsWith(`!${c.name}`)).toBe(true);
    }
  });
});
