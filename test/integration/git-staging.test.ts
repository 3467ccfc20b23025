// Staging against real repositories: clone and fetch, resolving refs (and refusing hostile ones),
// commit ranges checked against `git diff --shortstat`, capped diffs, and a fetch deadline.
import { existsSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, RemoteError, UserError } from "../../src/errors.js";
import { Staging } from "../../src/git/staging.js";
import { TempDirs, UpstreamRepo, git } from "../fixtures/git-repos.js";

const dirs = new TempDirs();
let up: UpstreamRepo;
let staging: Staging;
let stagingDir: string;
const sha: Record<string, string> = {};

beforeAll(async () => {
  up = UpstreamRepo.create(dirs.make());
  sha.c1 = up.commit({ "README": "hello\n", "src/app.js": "one\ntwo\nthree\n" }, "First");
  up.tag("v1.0");
  sha.c2 = up.commit({ "src/app.js": "one\n2\nthree\nfour\n", "src/util.js": "u\n" }, "Second");
  up.tag("v2.0", true);
  up.checkout("feature/login", true);
  sha.f1 = up.commit({ "login.js": "login\n" }, "Login form");
  up.checkout("main");
  sha.c3 = up.commit({ "README": null, "docs/a.md": "a\nb\n" }, "Third: move docs");
  git(up.dir, "merge", "--quiet", "--no-ff", "-m", "Merge login", "feature/login");
  sha.m = up.head();
  stagingDir = join(dirs.make(), "staging", "app");
  staging = new Staging({ dir: stagingDir, source: up.dir, patchesDir: null, timeoutMs: 30_000, commitUrl: "https://git.example.org/app/-/commit/{sha}" });
  await staging.update();
});

afterAll(() => dirs.removeAll());

describe("resolve", () => {
  it("resolves branches, lightweight and annotated tags and SHAs to full commit SHAs", async () => {
    expect(await staging.resolve("main")).toBe(sha.m);
    expect(await staging.resolve("feature/login")).toBe(sha.f1);
    expect(await staging.resolve("v1.0")).toBe(sha.c1);
    expect(await staging.resolve("v2.0")).toBe(sha.c2);
    expect(await staging.resolve(sha.c2!.slice(0, 7))).toBe(sha.c2);
    expect(await staging.resolve(sha.c3!.toUpperCase())).toBe(sha.c3);
  });

  it("names an unknown ref and suggests close branch names", async () => {
    await expect(staging.resolve("mian")).rejects.toThrow(/no branch, tag or commit "mian".*did you mean "main"\?/);
    await expect(staging.resolve("feature/logn")).rejects.toThrow(/did you mean "feature\/login"/);
    await expect(staging.resolve("nothing-like-it")).rejects.toThrow(/^no branch, tag or commit "nothing-like-it" in the staging repository$/);
    await expect(staging.resolve("deadbeef")).rejects.toBeInstanceOf(UserError);
  });

  it.each([
    ["--upload-pack=touch /tmp/tugboat-pwned", /must not start with "-"/],
    ["main; rm -rf /", /spaces or control characters/],
    ["main\nmain", /"main\\nmain".*control characters/],
    ["-n", /must not start with "-"/],
    ["main..evil", /must not contain "\.\."/],
    ["HEAD@{1}", /"@\{"/],
    ["main^", /must not contain "\^"/],
    ["", /is empty/],
    ["refs/heads/x.lock", /\.lock/],
  ])("refuses %j before running git", async (ref, message) => {
    const err = await staging.resolve(ref).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(message);
    expect(existsSync("/tmp/tugboat-pwned")).toBe(false);
  });
});

describe("update", () => {
  it("fetches new commits and prunes deleted branches", async () => {
    git(up.dir, "branch", "short-lived", sha.c1!);
    await staging.update();
    expect(await staging.resolve("short-lived")).toBe(sha.c1);
    const next = up.commit({ "docs/b.md": "new\n" }, "Fourth");
    git(up.dir, "branch", "-D", "short-lived");
    expect(await staging.has(next)).toBe(false);
    await staging.update();
    expect(await staging.resolve("main")).toBe(next);
    expect(await staging.has(next)).toBe(true);
    await expect(staging.resolve("short-lived")).rejects.toBeInstanceOf(UserError);
    git(up.dir, "reset", "--quiet", "--hard", sha.m!);
    await staging.update();
  });

  it("gives up on a silent server at the deadline, naming the operation", async () => {
    const sockets: Socket[] = [];
    const server = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const hung = new Staging({ dir: join(dirs.make(), "hung"), source: `git://127.0.0.1:${port}/app.git`, patchesDir: null, timeoutMs: 1_500, commitUrl: null });
    const started = Date.now();
    const err = await hung.update().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as Error).message).toBe("git fetch: timed out after 1500 ms");
    expect(Date.now() - started).toBeLessThan(6_000);
    expect(sockets.length).toBe(1);
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it("reports a source that is not a repository, without credentials in the message", async () => {
    const missing = new Staging({ dir: join(dirs.make(), "m"), source: join(dirs.make(), "nope"), patchesDir: null, timeoutMs: 30_000, commitUrl: null });
    await expect(missing.update()).rejects.toThrow(/^git fetch: .*nope' does not appear to be a git repository$/);
    const secret = new Staging({ dir: join(dirs.make(), "s"), source: "http://bot:s3cret@127.0.0.1:9/app.git", patchesDir: null, timeoutMs: 30_000, commitUrl: null });
    const err = await secret.update().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as Error).message).toMatch(/^git fetch: /);
    expect((err as Error).message).not.toContain("s3cret");
  });

  it("refuses a source that git would read as an option", () => {
    expect(() => new Staging({ dir: "/x", source: "--upload-pack=evil", patchesDir: null, timeoutMs: 1, commitUrl: null })).toThrow(ConfigError);
  });

  it("stops when the caller aborts", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(staging.update(controller.signal)).rejects.toThrow("git fetch: cancelled");
  });
});

describe("range and diff", () => {
  const shortstat = (a: string, b: string) => git(stagingDir, "diff", "--shortstat", a, b);

  it("lists the commits newest first with the diffstat git reports", async () => {
    const r = await staging.range(sha.c1!, sha.m!);
    expect(r.commits.map((c) => c.subject)).toEqual(["Merge login", "Third: move docs", "Login form", "Second"]);
    expect(r.count).toBe(4);
    expect(r.commits[1]).toEqual({
      sha: sha.c3,
      short: sha.c3!.slice(0, 7),
      author: "Ada Upstream",
      subject: "Third: move docs",
      url: `https://git.example.org/app/-/commit/${sha.c3}`,
    });
    const s = shortstat(sha.c1!, sha.m!);
    expect(`${r.filesChanged} files changed, ${r.added} insertions(+), ${r.deleted} deletions(-)`).toBe(s.trim());
  });

  it("follows the first parent only when asked, and caps the list but not the count", async () => {
    const r = await staging.range(sha.c1!, sha.m!, { firstParent: true, limit: 2 });
    expect(r.commits.map((c) => c.subject)).toEqual(["Merge login", "Third: move docs"]);
    expect(r.count).toBe(3);
  });

  it("takes a null from as just the one commit, the root commit included", async () => {
    const r = await staging.range(null, sha.c2!.slice(0, 8));
    expect(r).toMatchObject({ from: null, to: sha.c2, count: 1, filesChanged: 2, added: 3, deleted: 1 });
    expect(shortstat(sha.c1!, sha.c2!).trim()).toBe("2 files changed, 3 insertions(+), 1 deletion(-)");
    expect(await staging.range(null, sha.c1!)).toMatchObject({ count: 1, filesChanged: 2, added: 4, deleted: 0 });
  });

  it("refuses endpoints that are not commits here", async () => {
    await expect(staging.range("main", sha.m!)).rejects.toThrow('"main" is not a commit id');
    await expect(staging.range(null, "0".repeat(40))).rejects.toBeInstanceOf(UserError);
  });

  it("returns the unified diff, capped with a marker at maxBytes", async () => {
    const full = await staging.diff(sha.c1!, sha.c2!, 100_000);
    expect(full).toBe(git(stagingDir, "diff", sha.c1!, sha.c2!) + "\n");
    const cut = await staging.diff(sha.c1!, sha.c2!, 200);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(200);
    expect(full.startsWith(cut.slice(0, cut.lastIndexOf("[diff cut")))).toBe(true);
    expect(cut).toMatch(/\[diff cut at 200 bytes: git diff [0-9a-f]{12} [0-9a-f]{12}\]\n$/);
  });
});
