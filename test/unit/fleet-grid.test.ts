// The fleet grid's model (live events and journal replay) and the board's catch-up for reconnecting browsers.
import { gunzipSync } from "node:zlib";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { DeployEvent } from "../../src/fleet/events.js";
import { describeCell, FleetGrid, type GridApp } from "../../src/web/fleet-grid.js";
import { FleetBoard } from "../../src/web/fleet-board.js";
import { replayFrames, replayHtml } from "../../src/web/fleet-replay.js";
import { commands } from "../../commands/index.js";
import { SalService } from "../../src/sal/service.js";
import { ReplyPages } from "../../src/web/reply-pages.js";
import { buildWebServer } from "../../src/web/server.js";
import { MemorySalStore } from "../fakes/memory-sal-store.js";
import { testConfig } from "../support/fake-services.js";

const OLD = "a".repeat(40);
const NEW = "b".repeat(40);
const app: GridApp = {
  name: "api", canaries: ["w1"], targets: ["web", "edge"], restart: true, smoke: false,
  hosts: [{ name: "w1", groups: ["web"] }, { name: "w2", groups: ["web"] }, { name: "w3", groups: ["edge", "web"] }, { name: "w4", groups: ["web"] }],
};
const census = (g: FleetGrid) => g.census("api", app.hosts.map((h) => ({ host: h.name, current: OLD, problem: null })));
const state = (g: FleetGrid) => Object.fromEntries([...g.cells.values()].map((c) => [c.host, `${c.state} ${c.release?.[0] ?? "?"}`]));

/** A deploy: w1 canary ok, w2 fails its restart, w3 ok, w4 left out (no SSH handshake). */
const events: DeployEvent[] = [
  { type: "started", deployId: 7, app: "api", kind: "deploy", from: OLD, to: NEW, hosts: 4 },
  { type: "left-out", deployId: 7, problems: [{ host: "w4", kind: "timeout", step: "connect", message: "no SSH handshake within 3000 ms" }] },
  { type: "stage-started", deployId: 7, stage: "canaries", hosts: ["w1"] },
  { type: "host-step", deployId: 7, host: "w1", step: "prepare", ok: true, ms: 100 },
  { type: "host-step", deployId: 7, host: "w1", step: "promote", ok: true, ms: 10 },
  { type: "host-step", deployId: 7, host: "w1", step: "restart", ok: true, ms: 500 },
  { type: "host-step", deployId: 7, host: "w1", step: "prune", ok: true, ms: 5 },
  { type: "host-done", deployId: 7, host: "w1", ok: true, ms: 615 },
  { type: "stage-done", deployId: 7, stage: "canaries", ok: 1, failed: 0, halted: false },
  { type: "stage-started", deployId: 7, stage: "batch 1", hosts: ["w2", "w3"] },
  { type: "host-step", deployId: 7, host: "w2", step: "prepare", ok: true, ms: 100 },
  { type: "host-step", deployId: 7, host: "w2", step: "promote", ok: true, ms: 10 },
  { type: "host-step", deployId: 7, host: "w2", step: "restart", ok: false, ms: 300 },
  { type: "host-done", deployId: 7, host: "w2", ok: false, ms: 410, problem: { host: "w2", kind: "failed", step: "restart", message: "restart failed with exit code 3: bind: address in use", exitCode: 3, stderrTail: "starting\nbind: address in use" } },
  { type: "host-step", deployId: 7, host: "w3", step: "prepare", ok: true, ms: 100 },
  { type: "host-step", deployId: 7, host: "w3", step: "promote", ok: true, ms: 10 },
  { type: "host-step", deployId: 7, host: "w3", step: "restart", ok: true, ms: 500 },
  { type: "host-step", deployId: 7, host: "w3", step: "prune", ok: true, ms: 5 },
  { type: "host-done", deployId: 7, host: "w3", ok: true, ms: 615 },
  { type: "stage-done", deployId: 7, stage: "batch 1", ok: 1, failed: 1, halted: false },
  { type: "finished", deployId: 7, state: "succeeded", summary: "succeeded: 2/4 hosts ok" },
];

describe("FleetGrid", () => {
  it("groups canaries first, then each host under the first group the app targets", () => {
    expect(new FleetGrid([app]).sections.map((s) => [s.title, s.keys])).toEqual([["canaries", ["api/w1"]], ["web", ["api/w2", "api/w4"]], ["edge", ["api/w3"]]]);
  });

  it("follows a deploy's events: states, the switch to the new release, failures and unreachable hosts", () => {
    const g = new FleetGrid([app]);
    census(g);
    const seen: string[] = [];
    for (const e of events) {
      g.event(e);
      seen.push(state(g).w1!);
    }
    expect(seen.slice(2, 8)).toEqual(["preparing a", "switching a", "restarting b", "restarting b", "restarting b", "done b"]);
    expect(state(g)).toEqual({ w1: "done b", w2: "failed b", w3: "done b", w4: "unreachable a" });
    const w2 = g.cells.get("api/w2")!;
    expect(describeCell(w2, g.legend("api"))).toBe("w2 (api): failed\nrelease bbbbbbb (newest)\nlast step: restart failed, 410ms\nrestart failed with exit code 3: bind: address in use\nstarting\nbind: address in use");
    expect(describeCell(g.cells.get("api/w4")!, g.legend("api"))).toMatch(/^w4 \(api\): unreachable\nrelease aaaaaaa \(previous\), last known\nlast step: census\nno SSH handshake/);
  });

  it("orders the legend newest first by ship time, and lists a running deploy's target before any host has it", () => {
    const g = new FleetGrid([app]);
    census(g);
    g.setShipped("api", new Map([[OLD, "2026-01-01T00:00:00Z"], [NEW, "2026-02-01T00:00:00Z"]]));
    g.event(events[0]!);
    expect(g.legend("api")).toEqual([{ sha: NEW, colour: 0, hosts: 0, deployedAt: "2026-02-01T00:00:00Z" }, { sha: OLD, colour: 1, hosts: 4, deployedAt: "2026-01-01T00:00:00Z" }]);
  });

  it("shows hosts a failed stage rolls back, and leaves hosts a halted rollout never reached idle", () => {
    const g = new FleetGrid([app]);
    census(g);
    for (const e of events.slice(0, 8)) g.event(e);
    g.event({ type: "stage-started", deployId: 7, stage: "batch 1", hosts: ["w2", "w3"] });
    g.event({ type: "rollback-started", deployId: 7, hosts: ["w1"], reason: "over budget" });
    g.event({ type: "host-step", deployId: 7, host: "w1", step: "promote", ok: true, ms: 10 });
    expect(state(g).w1).toBe("restarting a");
    g.event({ type: "host-step", deployId: 7, host: "w1", step: "restart", ok: true, ms: 10 });
    g.event({ type: "finished", deployId: 7, state: "rolled-back", summary: "rolled back" });
    expect(state(g)).toMatchObject({ w1: "rolled-back a", w2: "idle a", w3: "idle a" });
  });

  it("follows a rollback: every reachable host switching at once, then done on the release it went back to", () => {
    const g = new FleetGrid([app]);
    g.census("api", app.hosts.map((h) => ({ host: h.name, current: NEW, problem: h.name === "w4" ? { host: "w4", kind: "unreachable", step: "connect", message: "connection refused" } : null })));
    g.event({ type: "started", deployId: 9, app: "api", kind: "rollback", from: NEW, to: OLD, hosts: 4 });
    expect(state(g)).toEqual({ w1: "switching b", w2: "switching b", w3: "switching b", w4: "unreachable ?" });
    g.event({ type: "host-step", deployId: 9, host: "w1", step: "promote", ok: true, ms: 5 });
    expect(state(g).w1).toBe("restarting a");
    g.event({ type: "host-step", deployId: 9, host: "w1", step: "restart", ok: true, ms: 5 });
    g.event({ type: "host-step", deployId: 9, host: "w2", step: "promote", ok: false, ms: 5 });
    g.event({ type: "finished", deployId: 9, state: "failed", summary: "failed: 1/4 hosts ok" });
    expect(state(g)).toEqual({ w1: "done a", w2: "failed b", w3: "idle b", w4: "unreachable ?" });
    // The rollback's source stays the newest release, its target the previous one.
    expect(g.legend("api").map((l) => [l.sha[0], l.colour])).toEqual([["b", 0], ["a", 1]]);
  });

  it("replays the journal's rows to the same outcome the live events showed", () => {
    const live = new FleetGrid([app]);
    census(live);
    for (const e of events) live.event(e);
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
    const rows = [
      { host: "w4", step: "census", outcome: "timeout", detail: "no SSH handshake within 3000 ms" },
      ...events.flatMap((e) => (e.type === "host-step" ? [{ host: e.host, step: e.step, outcome: e.ok ? "ok" : "failed", detail: e.ok ? null : "restart failed with exit code 3: bind: address in use" }] : [])),
    ].map((r, i) => ({ deployId: 7, ms: 10, at: at(i), ...r }));
    const deploy = { id: 7, app: "api", kind: "deploy" as const, ref: "main", fromSha: OLD, toSha: NEW, reason: "r", nick: "n", state: "succeeded" as const, startedAt: at(0), finishedAt: at(30), summary: "s", pid: 1 };
    const { grid, frames } = replayFrames(deploy, rows, app, new Map(), Date.parse(at(40)));
    expect(Object.fromEntries(Object.entries(state(grid)).map(([h, s]) => [h, s.split(" ")[0]]))).toEqual(Object.fromEntries(Object.entries(state(live)).map(([h, s]) => [h, s.split(" ")[0]])));
    expect(state(grid)).toMatchObject({ w1: "done b", w2: "failed b", w4: "unreachable ?" });
    // The first frame is every cell on the old release; rows a second apart are frames of their own.
    expect(frames[0]!.cells.map((c) => `${c.k} ${c.s} ${c.c}`)).toEqual(["api/w1 idle 1", "api/w2 idle 1", "api/w3 idle 1", "api/w4 idle 1"]);
    expect(frames).toHaveLength(rows.length + 2);
    // A running deploy's page points to the live grid.
    expect(replayHtml({ ...deploy, finishedAt: null, state: "running" }, rows, app, new Map(), 0, "/fleet?app=api")).toContain('This deploy is running: <a href="/fleet?app=api">watch it live</a>');
    expect(replayHtml(deploy, rows, app, new Map(), 0, "/fleet?app=api")).not.toContain("watch it live");
  });
});

describe("FleetBoard", () => {
  const board = () =>
    new FleetBoard({ apps: [app], census: async () => app.hosts.map((h) => ({ host: h.name, state: { current: OLD, previous: null, releases: [], haves: [] }, problem: null })), shipped: () => new Map(), log: pino({ level: "silent" }), now: () => Date.now(), flushMs: 1 });
  const settle = () => new Promise((r) => setTimeout(r, 20));

  it("sends a reconnecting browser what it missed, and a snapshot when its id is unknown or too old", async () => {
    const b = board();
    await b.refresh("api");
    await settle();
    const pageId = b.id();
    for (const e of events.slice(0, 4)) b.onEvent(e);
    await settle();
    const got: Array<{ id: string; keys: string[] }> = [];
    const unsubscribe = b.subscribe(["api"], pageId, (id, data) => got.push({ id, keys: (JSON.parse(data) as { cells: Array<{ k: string }> }).cells.map((c) => c.k) }));
    expect(got).toHaveLength(1);
    expect(got[0]!.id).toBe(b.id());
    // The legend changed when the deploy started (a new release), so every cell was recoloured.
    expect(got[0]!.keys.sort()).toEqual(["api/w1", "api/w2", "api/w3", "api/w4"]);
    b.onEvent(events[4]!);
    await settle();
    expect(got[1]!.keys).toEqual(["api/w1"]);
    unsubscribe();

    const snapshots: string[] = [];
    b.subscribe(["api"], "0badf00d.3", (id) => snapshots.push(id));
    b.subscribe(["api"], null, (id) => snapshots.push(id));
    expect(snapshots).toEqual([b.id(), b.id()]);
    const current: string[] = [];
    b.subscribe(["api"], b.id(), (id) => current.push(id));
    expect(current).toEqual([]);
    await b.close();
  });
});

describe("/fleet and /fleet/events", () => {
  it("renders the grid, and answers a bad filter or event id with what is wrong", async () => {
    const config = testConfig({});
    const board = new FleetBoard({ apps: [app], census: async () => [], shipped: () => new Map(), log: pino({ level: "silent" }), now: () => Date.now() });
    const web = buildWebServer({
      config, baseUrl: "https://sal.test", sal: new SalService(new MemorySalStore(), config.sal), apiTokens: [], commands, replies: new ReplyPages("https://sal.test"),
      log: pino({ level: "silent" }), metrics: () => "", health: () => ({ irc: { connected: true, nick: "t", queueDepth: 0 } }), defaultChannel: null, fleetBoard: board,
    });
    const page = await web.inject({ url: "/fleet" });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<i class="c s-idle ru" data-k="api/w1" role="gridcell">·</i>');
    expect(page.body).toMatch(/data-stream="\/fleet\/events\?since=[0-9a-f]{8}\.0"/);
    // The page is kept per board state: the same bytes again, gzipped for a browser that takes gzip,
    // and rendered anew once the board changed.
    expect((await web.inject({ url: "/fleet" })).body).toBe(page.body);
    const gz = await web.inject({ url: "/fleet", headers: { "accept-encoding": "gzip, deflate, br" } });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(gz.rawPayload).toString("utf8")).toBe(page.body);
    board.onEvent(events[0]!);
    await new Promise((r) => setTimeout(r, 150));
    const changed = await web.inject({ url: "/fleet" });
    expect(changed.body).not.toBe(page.body);
    expect(changed.body).toContain('data-state="running"');
    const bad = await web.inject({ url: "/fleet?app=nope" });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain("app: one of api");
    const badId = await web.inject({ url: "/fleet/events?since=%3Cscript%3E" });
    expect(badId.statusCode).toBe(400);
    expect(badId.json()).toEqual({ error: "since: an event id" });
    await web.close();
    await board.close();
  });
});
