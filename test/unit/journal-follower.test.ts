// Deploys another process runs, followed through the shared journal file: two DeployJournal
// connections on one SQLite file play the CLI (the writer) and the bot (the reader); the events the
// follower makes drive a FleetBoard as live events would, and a writer that dies shows as interrupted.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { DeployEvent } from "../../src/fleet/events.js";
import { JournalFollower } from "../../src/fleet/journal-follower.js";
import { DeployJournal } from "../../src/fleet/journal.js";
import { FleetBoard } from "../../src/web/fleet-board.js";
import type { GridApp } from "../../src/web/fleet-grid.js";

const OLD = "a".repeat(40);
const NEW = "b".repeat(40);
const app: GridApp = { name: "api", canaries: ["w1"], targets: ["web"], restart: true, smoke: false, hosts: ["w1", "w2", "w3", "w4"].map((name) => ({ name, groups: ["web"] })) };
const CLI = 4242;
const BOT = 100;

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "follower-"));
  dirs.push(dir);
  const file = join(dir, "deploys.sqlite3");
  const alive = new Set([CLI, BOT]);
  const cli = new DeployJournal(file, () => new Date(), (pid) => alive.has(pid), CLI);
  const bot = new DeployJournal(file, () => new Date(), (pid) => alive.has(pid), BOT);
  const board = new FleetBoard({ apps: [app], census: async () => app.hosts.map((h) => ({ host: h.name, state: { current: OLD, previous: null, releases: [], haves: [] }, problem: null })), shipped: () => new Map(), log: pino({ level: "silent" }), now: () => Date.now(), flushMs: 1 });
  const events: DeployEvent[] = [];
  const follower = new JournalFollower({
    journal: bot, apps: [{ name: "api", hosts: 4, restart: true, smoke: false }], owns: (id) => board.owns(id), log: pino({ level: "silent" }),
    emit: (e) => {
      events.push(e);
      board.onEvent(e, "journal");
    },
  });
  const state = () => Object.fromEntries([...board.grid.cells.values()].map((c) => [c.host, `${c.state} ${c.release?.[0] ?? "?"}`]));
  return { cli, bot, board, follower, events, state, alive, close: () => [cli.close(), bot.close()] };
}

describe("JournalFollower", () => {
  it("turns another process's journal rows into the grid's progress, and its finish into the outcome", async () => {
    const t = setup();
    await t.board.refresh("api");
    const begun = t.cli.begin({ app: "api", kind: "deploy", ref: "main", fromSha: OLD, toSha: NEW, reason: "from a terminal", nick: "carol" });
    if (!begun.ok) throw new Error("blocked");
    const id = begun.deploy.id;
    const step = (host: string, s: string, outcome = "ok", detail: string | null = null) => t.cli.step({ deployId: id, host, step: s, outcome, ms: 100, detail });
    step("w4", "census", "timeout", "no SSH handshake within 3000 ms");
    step("w1", "prepare");
    step("w1", "promote");
    t.cli.flush();
    t.follower.poll();
    expect(t.events.map((e) => e.type)).toEqual(["started", "left-out", "host-step", "host-step"]);
    expect(t.state()).toEqual({ w1: "restarting b", w2: "idle a", w3: "idle a", w4: "unreachable a" });
    expect(t.board.grid.progress("api")).toMatchObject({ deployId: id, done: false });

    step("w1", "restart");
    step("w2", "prepare");
    step("w2", "promote");
    step("w2", "restart", "failed", "restart failed with exit code 3: bind: address already in use");
    t.cli.flush();
    t.follower.poll();
    expect(t.state()).toEqual({ w1: "done b", w2: "failed b", w3: "idle a", w4: "unreachable a" });
    expect(t.board.grid.progress("api")!.line).toBe(`deploy #${id} api aaaaaaa..bbbbbbb: hosts 2/3 (ok 1, failed 1, left 1); 1 left out`);
    // Rows already read are not read again.
    const seen = t.events.length;
    t.follower.poll();
    expect(t.events).toHaveLength(seen);

    step("w3", "prepare");
    step("w3", "promote");
    step("w3", "restart");
    t.cli.finish(id, "succeeded", "succeeded: 2/4 hosts ok", { app: "api", sha: NEW });
    t.follower.poll();
    expect(t.events.at(-1)).toEqual({ type: "finished", deployId: id, state: "succeeded", summary: "succeeded: 2/4 hosts ok" });
    expect(t.state()).toMatchObject({ w1: "done b", w2: "failed b", w3: "done b" });
    expect(t.board.grid.progress("api")).toMatchObject({ done: true, summary: "succeeded: 2/4 hosts ok" });
    // Finished: nothing more to follow.
    t.follower.poll();
    expect(t.events.at(-1)!.type).toBe("finished");
    await t.board.close();
    t.close();
  });

  it("shows a deploy whose process died as interrupted, once, and ignores the deploys this process runs", async () => {
    const t = setup();
    const begun = t.cli.begin({ app: "api", kind: "deploy", ref: "main", fromSha: OLD, toSha: NEW, reason: "r", nick: "carol" });
    if (!begun.ok) throw new Error("blocked");
    t.cli.step({ deployId: begun.deploy.id, host: "w1", step: "prepare", outcome: "ok", ms: 5, detail: null });
    t.cli.flush();
    t.follower.poll();
    t.alive.delete(CLI); // the CLI is killed: its deploy stays "running" in the journal
    t.follower.poll();
    t.follower.poll();
    const finished = t.events.filter((e) => e.type === "finished");
    expect(finished).toEqual([{ type: "finished", deployId: begun.deploy.id, state: "interrupted", summary: `interrupted: the process running it (pid ${CLI}) stopped; unlock api to clear it` }]);
    expect(t.board.grid.progress("api")).toMatchObject({ done: true });
    expect(t.board.grid.cells.get("api/w1")!.state).toBe("idle");

    // A deploy of this process (its live events reached the board first) is not followed.
    t.bot.unlock("api");
    const own = t.bot.begin({ app: "api", kind: "deploy", ref: "main", fromSha: OLD, toSha: NEW, reason: "r", nick: "alice" });
    if (!own.ok) throw new Error("blocked");
    t.board.onEvent({ type: "started", deployId: own.deploy.id, app: "api", kind: "deploy", from: OLD, to: NEW, hosts: 4 });
    const before = t.events.length;
    t.follower.poll();
    expect(t.events).toHaveLength(before);
    await t.board.close();
    t.close();
  });
});
