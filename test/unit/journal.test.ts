import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DeployJournal, GLOBAL_SCOPE } from "../../src/fleet/journal.js";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function open(opts: { pid?: number; alive?: (pid: number) => boolean; dir?: string } = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "journal-"));
  dirs.push(dir);
  let t = Date.parse("2026-11-26T10:00:00Z");
  const j = new DeployJournal(join(dir, "deploys.sqlite3"), () => new Date((t += 1000)), opts.alive ?? (() => true), opts.pid ?? 100);
  return { j, dir };
}
const d = { app: "api", kind: "deploy" as const, ref: "main", fromSha: "a".repeat(40), toSha: "b".repeat(40), reason: "T1 fix", nick: "alice" };

describe("DeployJournal", () => {
  it("records a deploy, its steps and the live revision only on success", () => {
    const { j } = open();
    const r = j.begin(d);
    if (!r.ok) throw new Error("blocked");
    j.step({ deployId: r.deploy.id, host: "web01", step: "prepare", outcome: "ok", ms: 120.4, detail: null });
    expect(j.live("api")).toBeNull();
    j.finish(r.deploy.id, "succeeded", "2/2 hosts", { app: "api", sha: d.toSha });
    expect(j.get(r.deploy.id)).toMatchObject({ state: "succeeded", summary: "2/2 hosts", finishedAt: expect.any(String) });
    expect(j.steps(r.deploy.id)).toEqual([expect.objectContaining({ host: "web01", step: "prepare", outcome: "ok", ms: 120 })]);
    expect(j.live("api")).toMatchObject({ sha: d.toSha, deployId: r.deploy.id });
  });

  it("allows one deploy per app at a time; other apps go on", () => {
    const { j } = open();
    expect(j.begin(d).ok).toBe(true);
    const second = j.begin({ ...d, nick: "bob" });
    expect(second).toMatchObject({ ok: false, blocker: { kind: "running", stale: false, deploy: { nick: "alice" } } });
    expect(j.begin({ ...d, app: "web" }).ok).toBe(true);
  });

  it("locks: the holder passes, others are refused; the freeze stops everyone else", () => {
    const { j } = open();
    expect(j.lock("api", "alice", "schema change")).toEqual({ ok: true });
    expect(j.lock("api", "bob", "mine")).toMatchObject({ ok: false, lock: { nick: "alice", reason: "schema change" } });
    expect(j.begin({ ...d, nick: "bob" })).toMatchObject({ ok: false, blocker: { kind: "lock", lock: { nick: "alice" } } });
    const mine = j.begin(d);
    expect(mine.ok).toBe(true);
    if (mine.ok) j.finish(mine.deploy.id, "succeeded", "ok");
    expect(j.locks()).toHaveLength(1); // a deploy through one's own lock keeps the lock
    j.lock(GLOBAL_SCOPE, "carol", "incident");
    expect(j.begin({ ...d, app: "web" })).toMatchObject({ ok: false, blocker: { kind: "freeze", lock: { nick: "carol" } } });
    expect(j.unlock(GLOBAL_SCOPE).lock?.nick).toBe("carol");
    expect(j.begin({ ...d, app: "web" }).ok).toBe(true);
  });

  it("reports a deploy whose process died as stale, and only unlock clears it (interrupted)", () => {
    const first = open({ pid: 100 });
    expect(first.j.begin(d).ok).toBe(true);
    first.j.close();
    const later = open({ pid: 200, alive: () => false, dir: first.dir });
    const blocked = later.j.begin({ ...d, nick: "bob" });
    expect(blocked).toMatchObject({ ok: false, blocker: { kind: "running", stale: true } });
    const cleared = later.j.unlock("api");
    expect(cleared.interrupted).toHaveLength(1);
    expect(later.j.get(cleared.interrupted[0]!.id)).toMatchObject({ state: "interrupted" });
    expect(later.j.begin({ ...d, nick: "bob" }).ok).toBe(true);
  });
});
