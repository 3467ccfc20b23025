// Security patches on real repositories: applied, already applied (merged upstream), failed
// (conflict) without their content in any message, name order, and deterministic patched SHAs.
import { readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import { PatchError, Staging, type StagingOptions } from "../../src/git/staging.js";
import { TempDirs, UpstreamRepo, git } from "../fixtures/git-repos.js";

const SECRET = "ZERO-DAY-4711";
const dirs = new TempDirs();
let up: UpstreamRepo;
let base: string;

function stagingFor(patchesDir: string | null): { staging: Staging; dir: string } {
  const dir = join(dirs.make(), "app");
  const o: StagingOptions = { dir, source: up.dir, patchesDir, timeoutMs: 30_000, commitUrl: null };
  return { staging: new Staging(o), dir };
}

beforeAll(() => {
  up = UpstreamRepo.create(dirs.make());
  base = up.commit({ "auth.php": "check()\nlogin()\n", "util.php": "a\nb\nc\n" }, "Base");
});

afterAll(() => dirs.removeAll());

describe("security patches", () => {
  let patches: string;

  beforeAll(() => {
    patches = dirs.make();
    up.patch(base, { "auth.php": `check(${SECRET})\nlogin()\n` }, `Fix ${SECRET} in auth`, patches, "0001-auth.patch");
    // 0002 needs 0001 applied first: it edits the line 0001 wrote.
    git(up.dir, "checkout", "--quiet", "-b", "tmp", base);
    up.commit({ "auth.php": `check(${SECRET})\nlogin()\n` }, "tmp");
    up.patch("HEAD", { "auth.php": `check(${SECRET}, strict)\nlogin()\n` }, `Harden ${SECRET}`, patches, "0002-auth-strict.patch");
    git(up.dir, "checkout", "--quiet", "main");
    git(up.dir, "branch", "--quiet", "-D", "tmp");
  });

  it("applies them in name order on top of the ref, as a commit kept under refs/tugboat", async () => {
    const { staging, dir } = stagingFor(patches);
    await staging.update();
    const staged = await staging.stage("main");
    expect(staged.upstreamSha).toBe(base);
    expect(staged.patches).toEqual([
      { name: "0001-auth.patch", status: "applied" },
      { name: "0002-auth-strict.patch", status: "applied" },
    ]);
    expect(staged.sha).not.toBe(base);
    expect(git(dir, "rev-parse", `${staged.sha}~2`)).toBe(base);
    expect(git(dir, "show", `${staged.sha}:auth.php`)).toBe(`check(${SECRET}, strict)\nlogin()`);
    expect(git(dir, "rev-parse", `refs/tugboat/staged/${staged.sha}`)).toBe(staged.sha);
    expect(git(dir, "worktree", "list", "--porcelain").match(/^worktree /gm)).toHaveLength(1);
    // The range of a patched SHA is the range of its upstream commit: patches stay out of it.
    expect(await staging.range(null, staged.sha)).toMatchObject({ to: base, count: 1, filesChanged: 2 });
    expect(await staging.diff(null, staged.sha, 10_000)).not.toContain(SECRET);
  });

  it("yields the same SHA for the same ref and patches, in any staging repo, at any time", async () => {
    const one = stagingFor(patches);
    const two = stagingFor(patches);
    await one.staging.update();
    await two.staging.update();
    const a = await one.staging.stage("main");
    const again = await one.staging.stage("main");
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const b = await two.staging.stage(base.slice(0, 10));
    expect(again.sha).toBe(a.sha);
    expect(b.sha).toBe(a.sha);
    expect(git(one.dir, "log", "-1", "--format=%cn <%ce> %cd", a.sha)).toBe(
      `tugboat <tugboat@localhost> ${git(one.dir, "log", "-1", "--format=%ad", a.sha)}`,
    );
  });

  it("reports a patch whose change is already upstream as already applied", async () => {
    git(up.dir, "checkout", "--quiet", "-b", "merged", base);
    const merged = up.commit({ "auth.php": `check(${SECRET})\nlogin()\n`, "util.php": "a\nB\nc\n" }, "Upstream fix");
    git(up.dir, "checkout", "--quiet", "main");
    const { staging } = stagingFor(patches);
    await staging.update();
    const staged = await staging.stage("merged");
    expect(staged.upstreamSha).toBe(merged);
    expect(staged.patches.map((p) => p.status)).toEqual(["already-applied", "applied"]);
  });

  it("stops at a patch that conflicts, with names and counts but no content in the error", async () => {
    git(up.dir, "checkout", "--quiet", "-b", "conflicting", base);
    up.commit({ "auth.php": "check(other)\nlogin()\n" }, "Upstream rewrote check");
    git(up.dir, "checkout", "--quiet", "main");
    const { staging, dir } = stagingFor(patches);
    await staging.update();
    const err = await staging.stage("conflicting").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PatchError);
    expect(err).toBeInstanceOf(UserError);
    const e = err as PatchError;
    expect(e.message).toMatch(/^security patch 0001-auth\.patch conflicts on conflicting \([0-9a-f]{10}\): deploy stopped \(0 applied, 0 already applied, 1 not tried\)$/);
    expect(e.results).toEqual([{ name: "0001-auth.patch", status: "failed", detail: "conflict in auth.php" }]);
    expect(JSON.stringify({ message: e.message, stack: e.stack, results: e.results })).not.toMatch(new RegExp(`${SECRET}|check\\(|Fix `));
    expect(git(dir, "worktree", "list", "--porcelain").match(/^worktree /gm)).toHaveLength(1);
    expect(git(dir, "for-each-ref", "refs/tugboat/")).toBe("");
    expect(readdirSync(dirname(dir))).toEqual(["app"]);
  });

  it("reports a file that is not a patch without its content", async () => {
    const bad = dirs.make();
    up.patch(base, { "auth.php": "x\n" }, "ok", bad, "0001-ok.patch");
    writeFileSync(join(bad, "0002-garbage.patch"), `${SECRET} this is not a patch\n`);
    const { staging } = stagingFor(bad);
    await staging.update();
    const e = (await staging.stage("main").catch((x: unknown) => x)) as PatchError;
    expect(e.results.map((r) => [r.name, r.status, r.detail])).toEqual([
      ["0001-ok.patch", "applied", undefined],
      ["0002-garbage.patch", "failed", "not a patch (format detection failed)"],
    ]);
    expect(e.message).not.toContain(SECRET);
  });

  it("stages the ref itself when there are no patches (null or missing directory)", async () => {
    for (const dir of [null, join(dirs.make(), "missing")]) {
      const { staging } = stagingFor(dir);
      await staging.update();
      expect(await staging.stage("main")).toEqual({ sha: base, upstreamSha: base, ref: "main", patches: [] });
    }
  });
});
