// Bundles for hosts, checked by fetching them into other real repositories: full, incremental
// (a 1-file change to a 2,000-file tree is a small fraction of the full bundle), unknown haves,
// nothing to send, and a patched commit.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import { Staging } from "../../src/git/staging.js";
import { TempDirs, UpstreamRepo, git } from "../fixtures/git-repos.js";

const dirs = new TempDirs();
let up: UpstreamRepo;
let staging: Staging;
let stagingDir: string;
let v1: string;
let v2: string;

/** A host's repository: an empty one, then whatever bundles it is given. */
function host(): string {
  const dir = dirs.make("tugboat-host-");
  git(dir, "init", "--quiet", "--bare");
  return dir;
}

function receive(hostDir: string, bundle: Buffer, sha: string): void {
  const file = join(dirs.make(), "rev.bundle");
  writeFileSync(file, bundle);
  git(hostDir, "fetch", "--quiet", file, sha);
}

beforeAll(async () => {
  up = UpstreamRepo.create(dirs.make());
  const files: Record<string, string> = {};
  for (let i = 0; i < 2_000; i++) files[`src/m${i % 20}/f${i}.txt`] = `${randomBytes(120).toString("base64")}\n`;
  v1 = up.commit(files, "Two thousand files");
  v2 = up.commit({ "src/m3/f3.txt": "changed\n" }, "Change one file");
  stagingDir = join(dirs.make(), "app");
  staging = new Staging({ dir: stagingDir, source: up.dir, patchesDir: null, timeoutMs: 60_000, commitUrl: null });
  await staging.update();
});

afterAll(() => dirs.removeAll());

describe("bundle", () => {
  it("cuts a full bundle a host can fetch the commit from", async () => {
    const full = await staging.bundle(v1, []);
    expect(full).not.toBeNull();
    const h = host();
    receive(h, full!, v1);
    expect(git(h, "cat-file", "-t", v1)).toBe("commit");
    expect(git(h, "ls-tree", "-r", "--name-only", v1).split("\n")).toHaveLength(2_000);
  });

  it("cuts an incremental bundle, a small fraction of the full one, for a host that has the parent", async () => {
    const h = host();
    receive(h, (await staging.bundle(v1, []))!, v1);
    const full = (await staging.bundle(v2, []))!;
    const delta = (await staging.bundle(v2, [v1]))!;
    expect(delta.byteLength).toBeLessThan(full.byteLength * 0.1);
    receive(h, delta, v2);
    expect(git(h, "show", `${v2}:src/m3/f3.txt`)).toBe("changed");
  });

  it("drops haves it does not know (and ones that are not SHAs)", async () => {
    const unknown = "1234567890abcdef1234567890abcdef12345678";
    const withUnknown = (await staging.bundle(v2, [unknown, "--upload-pack=x", "main"]))!;
    const h = host();
    receive(h, withUnknown, v2);
    expect(git(h, "cat-file", "-t", v1)).toBe("commit");
    const partly = (await staging.bundle(v2, [unknown, v1.toUpperCase()]))!;
    expect(partly.byteLength).toBeLessThan(withUnknown.byteLength * 0.1);
  });

  it("returns null when the host already has the commit or a descendant of it", async () => {
    expect(await staging.bundle(v2, [v2])).toBeNull();
    expect(await staging.bundle(v1, [v2])).toBeNull();
  });

  it("refuses a commit it does not have", async () => {
    await expect(staging.bundle("f".repeat(40), [])).rejects.toBeInstanceOf(UserError);
    await expect(staging.bundle("main", [])).rejects.toThrow(/commit "main" is not in the staging repository/);
  });

  it("bundles a patched commit, which exists only in the staging repo", async () => {
    const small = UpstreamRepo.create(dirs.make());
    const base = small.commit({ "app.txt": "v1\n" }, "One");
    const patches = dirs.make();
    small.patch(base, { "app.txt": "v1 patched\n" }, "Security fix", patches, "0001-fix.patch");
    const patched = new Staging({ dir: join(dirs.make(), "app"), source: small.dir, patchesDir: patches, timeoutMs: 60_000, commitUrl: null });
    await patched.update();
    const staged = await patched.stage("main");
    const h = host();
    receive(h, (await patched.bundle(staged.sha, []))!, staged.sha);
    expect(git(h, "show", `${staged.sha}:app.txt`)).toBe("v1 patched");
    expect(git(h, "rev-parse", `${staged.sha}^`)).toBe(base);
    expect(await patched.bundle(staged.sha, [staged.sha])).toBeNull();
  });

  it("calls an abbreviated SHA that matches several objects ambiguous", async () => {
    const ids = git(stagingDir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split("\n");
    const seen = new Set<string>();
    const prefix = ids.map((id) => id.slice(0, 4)).find((p) => (seen.has(p) ? true : (seen.add(p), false)));
    expect(prefix).toBeDefined();
    await expect(staging.resolve(prefix!)).rejects.toThrow(`"${prefix}" matches several objects in the staging repository; give more digits`);
  });
});
