// The sync engine end to end on the local transport: real git, real /bin/sh steps, directories as hosts.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CENSUS_REUSE_MS } from "../../src/fleet/engine.js";
import { LocalShell } from "../../src/fleet/local-shell.js";
import { HostFailure, type ExecRequest, type Host, type RemoteShell } from "../../src/fleet/remote-shell.js";
import { TempDirs, UpstreamRepo } from "../fixtures/git-repos.js";
import { makeEngine } from "../support/engine.js";

const temp = new TempDirs();
let dir: string;
let upstream: UpstreamRepo;
const hosts = Array.from({ length: 10 }, (_, i) => `web${String(i + 1).padStart(2, "0")}`);
const current = (h: string) => readlinkSync(join(dir, "fleet", h, "srv/app/current")).replace("releases/", "");

/** A LocalShell whose every command passes through `exec` first (to count or delay steps). */
function observed(exec: (host: Host, req: ExecRequest, run: () => ReturnType<RemoteShell["exec"]>) => ReturnType<RemoteShell["exec"]>): RemoteShell {
  const local = new LocalShell();
  return { exec: (host, req) => exec(host, req, () => local.exec(host, req)), connect: () => local.connect(), connectionStats: () => local.connectionStats(), close: () => local.close() };
}

function setup(app: Record<string, unknown> = {}, shell: RemoteShell = new LocalShell()) {
  return makeEngine({
    dir,
    shell,
    basePath: (host, path) => join(dir, "fleet", host.name, path),
    config: {
      fleet: { transport: "local", hosts: hosts.map((name) => ({ name, groups: ["web"] })) },
      apps: { app: { repo: upstream.dir, deployPath: "/srv/app", targets: ["web"], canaries: ["web01"], batchSize: 4, failureBudget: "10%", ...app } },
    },
  });
}

beforeAll(() => {
  dir = temp.make("tugboat-engine-");
  upstream = UpstreamRepo.create(temp.make("tugboat-upstream-"));
  const files: Record<string, string> = {};
  for (let i = 0; i < 300; i++) files[`src/file${i}.txt`] = `content ${i}\n`.repeat(20);
  upstream.commit(files, "initial");
});
afterAll(() => temp.removeAll());

describe("DeployEngine on local hosts", () => {
  it("deploys canaries first, passes the gate, then batches; every host's current points at the new release", async () => {
    const order: string[] = [];
    const t = setup({}, observed((_host, req, run) => (order.push(/tugboat-(census|ship|activate)/.exec(req.command)?.[1] ?? "?"), run())));
    const result = await t.engine.deploy({ app: "app", reason: "first deploy", nick: "alice", onEvent: t.onEvent });
    // a first deploy (no live release on record) reads every host before it ships to any
    expect(result.from).toBeNull();
    expect(order.filter((s) => s === "census")).toHaveLength(10);
    expect(order.lastIndexOf("census")).toBeLessThan(order.indexOf("ship"));
    // then one exec a host: prepare and promote in one (ship), each journaled as its own step
    expect(order.slice(10)).toEqual(Array(10).fill("ship"));
    for (const h of hosts) expect(t.journal.steps(result.deploy.id).filter((s) => s.host === h).map((s) => [s.step, s.outcome])).toEqual([["prepare", "ok"], ["promote", "ok"]]);
    expect(result.state).toBe("succeeded");
    expect(result.ok).toHaveLength(10);
    for (const h of hosts) expect(current(h)).toBe(result.to);
    expect(t.journal.live("app")?.sha).toBe(result.to);
    const stages = t.events.filter((e) => e.type === "stage-started").map((e) => (e.type === "stage-started" ? [e.stage, e.hosts.length] : []));
    expect(stages).toEqual([["canaries", 1], ["batch 1", 4], ["batch 2", 4], ["batch 3", 1]]);
    expect(t.events.find((e) => e.type === "gate")).toMatchObject({ verdict: "continue" });
    expect(t.events.at(-1)).toMatchObject({ type: "finished", state: "succeeded" });
    expect(t.journal.steps(result.deploy.id).filter((s) => s.step === "promote")).toHaveLength(10);
  });

  it("a second deploy of a small change sends a small fraction of the bytes", async () => {
    const t = setup();
    const before = current("web01");
    const first = t.journal.list("app", 1)[0]!;
    upstream.commit({ "src/file1.txt": "changed\n" }, "small change");
    const result = await t.engine.deploy({ app: "app", reason: "small change", nick: "alice" });
    expect(result.state).toBe("succeeded");
    expect(result.from).toBe(before);
    expect(current("web05")).toBe(result.to);
    expect(readFileSync(join(dir, "fleet", "web05", "srv/app/.tugboat-previous"), "utf8").trim()).toBe(before);
    expect(readFileSync(join(dir, "fleet", "web05", "srv/app/current/src/file1.txt"), "utf8")).toBe("changed\n");
    // 10 hosts x a ~1 KB bundle, against ~300 files on the first deploy
    expect(result.bytesSent).toBeLessThan(10 * 2048);
    expect(first.state).toBe("succeeded");
  });

  it("rolls back in seconds to the previous release on every host", async () => {
    const t = setup();
    const live = current("web01");
    const previous = readFileSync(join(dir, "fleet", "web01", "srv/app/.tugboat-previous"), "utf8").trim();
    const started = Date.now();
    const result = await t.engine.rollback({ app: "app", reason: "bad change", nick: "bob" });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.state).toBe("succeeded");
    expect(result.from).toBe(live);
    for (const h of hosts) expect(current(h)).toBe(previous);
    expect(t.journal.live("app")?.sha).toBe(previous);
  });

  it("stops at the failure budget and rolls back every host it had switched", async () => {
    // restart fails on 3 of the 9 batch hosts (30% > 10%)
    const t = setup({ restart: 'case "$PWD" in */web0[4-6]/*) echo "port in use" >&2; exit 3;; esac', batchSize: 9 });
    for (const h of hosts) writeFileSync(join(dir, "fleet", h, "marker"), "");
    const before = hosts.map(current);
    upstream.commit({ "src/file2.txt": "broken\n" }, "broken change");
    const result = await t.engine.deploy({ app: "app", reason: "will break", nick: "alice", onEvent: t.onEvent });
    expect(result.state).toBe("rolled-back");
    expect(hosts.map(current)).toEqual(before);
    const failed = result.problems.filter((p) => p.step === "restart");
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed[0]).toMatchObject({ kind: "failed", exitCode: 3, stderrTail: "port in use" });
    expect(result.summary).toMatch(/^rolled-back: .* halted \(batch 1: \d of 9 hosts failed, over the budget of 0\)/);
    expect(t.journal.live("app")?.sha).toBe(before[0]);
    expect(existsSync(join(dir, "fleet", "web04", "srv/app/releases", result.to, ".tugboat-complete"))).toBe(true);
  });

  it("ships the security patches on top, counted and never described, and a failing patch stops before any host", async () => {
    const patches = temp.make("tugboat-patches-");
    const head = readFileSync(join(dir, "fleet", "web01", "srv/app/current/.tugboat-revision"), "utf8").trim();
    upstream.patch("main", { "src/auth.txt": "check(SECRET-CVE-2026-1234)\n" }, "Fix SECRET-CVE-2026-1234", patches, "0001-auth.patch");
    const t = setup({ securityPatches: patches });
    const result = await t.engine.deploy({ app: "app", reason: "with patches", nick: "alice", onEvent: t.onEvent });
    expect(result.state).toBe("succeeded");
    expect(result.staged?.patches).toEqual([{ name: "0001-auth.patch", status: "applied" }]);
    expect(result.to).not.toBe(result.staged?.upstreamSha);
    expect(readFileSync(join(dir, "fleet", "web07", "srv/app/current/src/auth.txt"), "utf8")).toBe("check(SECRET-CVE-2026-1234)\n");
    const journal = JSON.stringify([t.journal.get(result.deploy.id), t.journal.steps(result.deploy.id), t.events]);
    expect(journal).not.toContain("SECRET-CVE");
    expect(head).not.toBe(result.to);

    // A patch that no longer applies stops the deploy before any host is touched.
    upstream.commit({ "src/auth.txt": "check(other)\nrewritten\n" }, "upstream rewrote auth");
    const before = hosts.map(current);
    const failed = t.engine.deploy({ app: "app", reason: "patch conflicts", nick: "alice" });
    await expect(failed).rejects.toThrow(/0001-auth\.patch/);
    await expect(failed).rejects.not.toThrow(/SECRET-CVE/);
    expect(hosts.map(current)).toEqual(before);
  });

  it("refuses an unknown ref before touching any host, and a second deploy while one runs", async () => {
    const t = setup();
    await expect(t.engine.deploy({ app: "app", ref: "no-such-branch", reason: "x", nick: "alice" })).rejects.toThrow(/no-such-branch/);
    await expect(t.engine.deploy({ app: "nope", reason: "x", nick: "alice" })).rejects.toThrow('no app "nope" (apps: app)');
    t.journal.lock("app", "carol", "schema migration");
    await expect(t.engine.deploy({ app: "app", reason: "x", nick: "alice" })).rejects.toThrow(/app is locked by carol .* ago: schema migration/);
    t.journal.unlock("app");
  });

  it("census and shipping share the app's concurrency: never more hosts at work than it allows, each census before any prepare", async () => {
    // Bench run 8 (200 hosts): censuses ran beside 32 shipping hosts and 70 timed out in their handshakes.
    let inFlight = 0;
    let most = 0;
    const order: string[] = [];
    const counting = observed(async (host, req, run) => {
      const step = /tugboat-(census|ship|activate)/.exec(req.command)?.[1] ?? "?";
      order.push(step);
      most = Math.max(most, ++inFlight);
      try {
        // Half the hosts are slow to answer their census, as hosts still in their handshake are.
        if (step === "census" && host.name >= "web06") await new Promise((r) => setTimeout(r, 300));
        return await run();
      } finally {
        inFlight--;
      }
    });
    const t = setup({ canaries: [], batchSize: 0, concurrency: 3 }, counting);
    // A deploy over a live release (a first deploy waits for every census anyway).
    if (!t.journal.live("app")) expect((await t.engine.deploy({ app: "app", reason: "first", nick: "alice" })).state).toBe("succeeded");
    order.length = 0;
    most = 0;
    upstream.commit({ "src/file3.txt": "shared limit\n" }, "shared limit");
    const result = await t.engine.deploy({ app: "app", reason: "limit", nick: "alice" });
    expect(result.state).toBe("succeeded");
    expect(result.ok).toHaveLength(10);
    expect(most).toBe(3);
    expect(order.filter((s) => s === "census")).toHaveLength(10);
    expect(order.lastIndexOf("census")).toBeLessThan(order.indexOf("ship"));
  });

  it("a deploy after its preview reads no host twice; after another deploy or too late, it reads them again", async () => {
    // !deploy previews (a census of every host) and then deploys: the hosts are not read twice.
    const censuses: string[] = [];
    const execs: string[] = [];
    const t = setup({ canaries: [], batchSize: 0 }, observed((host, req, run) => (req.command.includes("tugboat-census") && censuses.push(host.name), execs.push(`${host.name} ${/tugboat-(census|ship|activate)/.exec(req.command)?.[1]}`), run())));
    if (!t.journal.live("app")) expect((await t.engine.deploy({ app: "app", reason: "first", nick: "alice" })).state).toBe("succeeded");
    const deployAfter = async (preview: Awaited<ReturnType<typeof t.engine.preview>>, census = preview.census) => {
      censuses.length = 0;
      const result = await t.engine.deploy({ app: "app", reason: "after a preview", nick: "alice", staged: preview.staged, census });
      expect(result.state).toBe("succeeded");
      for (const h of hosts) expect(current(h)).toBe(preview.staged.sha);
      return [...censuses];
    };

    upstream.commit({ "src/file4.txt": "previewed\n" }, "previewed");
    const preview = await t.engine.preview("app", undefined);
    expect(preview.census.entries).toHaveLength(10);
    execs.length = 0;
    expect(await deployAfter(preview)).toEqual([]);
    // the deploy itself: one exec a host, all of its work
    expect(execs.sort()).toEqual(hosts.map((h) => `${h} ship`));

    // Another operation of the app between the preview and the deploy: the hosts changed, read them again.
    upstream.commit({ "src/file5.txt": "raced\n" }, "raced");
    const stale = await t.engine.preview("app", undefined);
    expect((await t.engine.rollback({ app: "app", reason: "in between", nick: "bob" })).state).toBe("succeeded");
    expect((await deployAfter(stale)).sort()).toEqual(hosts);

    // Too old, or a host that did not answer the preview: read again.
    upstream.commit({ "src/file6.txt": "late\n" }, "late");
    const late = await t.engine.preview("app", undefined);
    expect((await deployAfter(late, { ...late.census, at: late.census.at - CENSUS_REUSE_MS - 1 })).sort()).toEqual(hosts);
    upstream.commit({ "src/file7.txt": "partial\n" }, "partial");
    const partial = await t.engine.preview("app", undefined);
    const lost = { ...partial.census, entries: partial.census.entries.map((e) => (e.host === "web03" ? { host: e.host, state: null, problem: { host: e.host, kind: "timeout" as const, step: "census", message: "census timed out" } } : e)) };
    expect(await deployAfter(partial, lost)).toEqual(["web03"]);
  });

  it("rolls back only hosts that may have switched: not one whose prepare failed, nor one whose stop was confirmed", async () => {
    const first = setup({ canaries: [], batchSize: 0 });
    if (!first.journal.live("app")) expect((await first.engine.deploy({ app: "app", reason: "first", nick: "alice" })).state).toBe("succeeded");
    const before = hosts.map(current);
    upstream.commit({ "src/file8.txt": "stopped\n" }, "stopped mid-prepare");
    const tree = execFileSync("git", ["-C", upstream.dir, "rev-parse", "HEAD^{tree}"], { encoding: "utf8" }).trim();
    const ship = (req: ExecRequest) => req.command.includes("tugboat-ship");
    const t = setup({ canaries: [], batchSize: 0, failureBudget: 1 }, observed(async (host, req, run) => {
      if (!ship(req)) return run();
      // web05's prepare really fails (a bad argument: exit 2); web06-08 are stopped before prepare reported
      if (host.name === "web05") return new LocalShell().exec(host, { ...req, command: req.command.replace(tree, "not-a-tree") });
      if (host.name === "web06") throw new HostFailure(host.name, "timeout", "no result within 1000 ms (killed on the host)", { killed: true, stdout: "", stderr: "" });
      if (host.name === "web07") throw new HostFailure(host.name, "timeout", "no result within 1000 ms (the host did not confirm it was killed)", { killed: false, stdout: "", stderr: "" });
      if (host.name === "web08") throw new HostFailure(host.name, "protocol", "the connection was lost");
      return run();
    }));
    const result = await t.engine.deploy({ app: "app", reason: "stopped", nick: "alice" });
    expect(result.state).toBe("rolled-back");
    const byHost = Object.fromEntries(result.problems.map((p) => [p.host, p]));
    expect(byHost.web05).toMatchObject({ kind: "failed", step: "prepare", exitCode: 2, message: "prepare failed with exit code 2: bad tree argument" });
    expect(byHost.web06).toMatchObject({ kind: "timeout", step: "prepare" });
    expect(byHost.web08).toMatchObject({ kind: "protocol", step: "prepare" });
    // the switched hosts go back, and so do those that may have switched (web07, web08): never web05 or web06
    expect([...result.rolledBack].sort()).toEqual(hosts.filter((h) => h !== "web05" && h !== "web06"));
    expect(hosts.map(current)).toEqual(before);
    const steps = t.journal.steps(result.deploy.id);
    expect(steps.filter((s) => s.host === "web05").map((s) => [s.step, s.outcome])).toEqual([["prepare", "failed"]]);
    expect(steps.filter((s) => s.host === "web06").map((s) => [s.step, s.outcome])).toEqual([["prepare", "timeout"]]);
  });

  it("kills a prepare that hangs at prepare's own deadline on the host, not at the whole step's", async () => {
    const first = setup({ canaries: [], batchSize: 0 });
    if (!first.journal.live("app")) expect((await first.engine.deploy({ app: "app", reason: "first", nick: "alice" })).state).toBe("succeeded");
    // web09's cache repository config is a FIFO nobody writes: git blocks opening it
    const config = join(dir, "fleet", "web09", "srv/app/cache.git/config");
    const saved = readFileSync(config);
    rmSync(config);
    execFileSync("mkfifo", [config]);
    try {
      const t = setup({ canaries: [], batchSize: 0, failureBudget: 1, timeouts: { prepareSec: 1 } });
      upstream.commit({ "src/file9.txt": "hang\n" }, "a host hangs in prepare");
      const started = Date.now();
      const result = await t.engine.deploy({ app: "app", reason: "hang", nick: "alice" });
      // 1 s and timeout(1)'s kill, not prepareSec + 5 + the switch and restart's deadline
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(result.problems).toEqual([expect.objectContaining({ host: "web09", kind: "timeout", step: "prepare", message: "prepare timed out after 1s (killed on the host)" })]);
      expect(result.state).toBe("succeeded");
    } finally {
      rmSync(config);
      writeFileSync(config, saved);
    }
  });

  it("reports each host's switch as it happens, while its restart still runs", async () => {
    const t = setup({ canaries: [], batchSize: 0, restart: "sleep 1" });
    upstream.commit({ "src/file1.txt": "live switch\n" }, "watch the switch");
    const seen: Array<{ at: number; type: string; host: string; step?: string }> = [];
    const result = await t.engine.deploy({
      app: "app", reason: "live", nick: "alice",
      onEvent: (e) => {
        if (e.type === "host-step" || e.type === "host-done") seen.push({ at: Date.now(), type: e.type, host: e.host, ...(e.type === "host-step" ? { step: e.step } : {}) });
      },
    });
    expect(result.state).toBe("succeeded");
    for (const h of hosts) {
      const promote = seen.find((s) => s.host === h && s.step === "promote")!;
      const restart = seen.find((s) => s.host === h && s.step === "restart")!;
      const done = seen.find((s) => s.host === h && s.type === "host-done")!;
      // the switch was announced a restart's second before the host finished
      expect(restart.at - promote.at, h).toBeGreaterThanOrEqual(500); // a 1 s restart, less a busy event loop's lag
      expect(done.at).toBeGreaterThanOrEqual(restart.at);
    }
    expect(t.journal.steps(result.deploy.id).filter((s) => s.step === "promote")).toHaveLength(10);
  });
});
