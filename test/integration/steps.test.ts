// The host step scripts run for real (/bin/sh, git, coreutils) on directories standing for hosts.
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalShell } from "../../src/fleet/local-shell.js";
import { HostFailure, type Host } from "../../src/fleet/remote-shell.js";
import { framed, parseActivate, parseCensus, parsePrepare, stepCommand, type StepName } from "../../src/fleet/steps.js";
import { processesRunning } from "../support/processes.js";

const host: Host = { name: "web01", address: "local", port: 0, user: "me", groups: [] };
const shell = new LocalShell();
let dir: string;
let repo: string;
const git = (...args: string[]) => execFileSync("git", ["-C", repo, ...args], { encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x" } }).trim();
const commit = (file: string, text: string, mode?: number) => {
  writeFileSync(join(repo, file), text);
  if (mode) execFileSync("chmod", [mode.toString(8), join(repo, file)]);
  git("add", "-A");
  git("commit", "-qm", `change ${file}`);
  return git("rev-parse", "HEAD");
};
// A bundle needs a ref, not a bare SHA: the staging repo keeps refs/tugboat/staged/SHA for that.
const bundle = (sha: string, ...haves: string[]) => {
  git("update-ref", `refs/tugboat/staged/${sha}`, sha);
  return execFileSync("git", ["-C", repo, "bundle", "create", "-", `refs/tugboat/staged/${sha}`, ...haves.map((h) => `^${h}`)], { stdio: ["ignore", "pipe", "pipe"] });
};

/** The tree of a commit of either test repository: prepare verifies a release against it. */
function treeOf(sha: string): string {
  for (const r of [repo, join(dir, "wrepo")]) {
    try {
      return execFileSync("git", ["-C", r, "rev-parse", "--verify", "--quiet", `${sha}^{tree}`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
      // not in this one
    }
  }
  return "0".repeat(40); // a revision no repository has: prepare must fail without a usable tree
}

let n = 0;
async function run(step: StepName, args: string[], opts: { stdin?: Buffer; noise?: boolean; timeoutSec?: number } = {}) {
  const nonce = `n${++n}`;
  let command = stepCommand(step, args, { umask: "022", timeoutSec: opts.timeoutSec ?? 30, nonce });
  // What a login shell with a hostile .bashrc does before our command: print, and tighten the umask.
  if (opts.noise) command = `echo "Welcome to web01"; echo "motd" >&2; umask 077; export GIT_DIR=/nonexistent GREETING=hello; ${command}`;
  const r = await shell.exec(host, { command, timeoutMs: (opts.timeoutSec ?? 30) * 1000, ...(opts.stdin ? { stdin: opts.stdin } : {}) }).catch((e: unknown) => {
    // stopped at its deadline: what it printed until then, and whether the kill was confirmed
    if (!(e instanceof HostFailure) || e.kind !== "timeout") throw e;
    return { code: null, stdout: e.detail.stdout ?? "", stderr: e.detail.stderr ?? "", bytesSent: 0, killed: e.detail.killed };
  });
  return { ...r, lines: framed(r.stdout, nonce), errLines: framed(r.stderr, nonce) };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "tugboat-steps-"));
  repo = join(dir, "repo");
  mkdirSync(repo);
  execFileSync("git", ["init", "-q", "-b", "main", repo]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("step scripts", () => {
  it("census of an empty host says so", async () => {
    const r = await run("census", [join(dir, "nothing-here")]);
    expect(r.code).toBe(0);
    expect(r.lines).toEqual(["nobase"]);
  });

  it("prepare, promote, census, prepare again (incremental), promote, prune: with login-file noise ignored", async () => {
    const base = join(dir, "srv", "app");
    const a = commit("index.html", "v1\n");
    commit("bin/run.sh".replace("bin/", ""), "#!/bin/sh\necho run\n", 0o755);
    const b = git("rev-parse", "HEAD");
    let r = await run("prepare", [base, b, "1", "", treeOf(b)], { stdin: bundle(b), noise: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines).toEqual(["fallback no live release", "state prepared full"]);
    expect(r.stdout.startsWith("Welcome to web01")).toBe(true); // the noise was there, and ignored
    // umask 022 despite the login file's 077
    expect(statSync(join(base, "releases", b, "index.html")).mode & 0o777).toBe(0o644);
    expect(statSync(join(base, "releases", b, "run.sh")).mode & 0o777).toBe(0o755);
    expect(statSync(join(base, "releases", b)).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(base, "releases", b, ".tugboat-revision"), "utf8")).toBe(`${b}\n`);

    r = await run("activate", [base, b, "", "0"], { noise: true });
    expect(parseActivate(r.lines!)).toMatchObject({ was: null, restart: null });
    expect(readlinkSync(join(base, "current"))).toBe(`releases/${b}`);

    const c = commit("index.html", "v2\n");
    const small = bundle(c, b);
    expect(small.length).toBeLessThan(bundle(c).length);
    r = await run("prepare", [base, c, "1", "", treeOf(c)], { stdin: small });
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines).toEqual([`state prepared warm ${b}`]); // made from the live release
    r = await run("activate", [base, c, "", "0"]);
    expect(parseActivate(r.lines!)?.was).toBe(b);
    expect(readlinkSync(join(base, "current"))).toBe(`releases/${c}`);
    expect(readFileSync(join(base, ".tugboat-previous"), "utf8")).toBe(`${b}\n`);

    r = await run("census", [base]);
    const state = parseCensus(r.lines!);
    expect(state).toMatchObject({ current: c, previous: b });
    expect(state.releases.map((x) => x.sha).sort()).toEqual([b, c].sort());
    expect(state.haves).toEqual(expect.arrayContaining([b, c]));
    // after git packs the refs (gc does), census still finds them
    execFileSync("git", ["--git-dir", join(base, "cache.git"), "pack-refs", "--all"]);
    expect(parseCensus((await run("census", [base])).lines!).haves).toEqual(expect.arrayContaining([b, c]));

    // preparing what is there already is a no-op; promoting back is the rollback
    expect((await run("prepare", [base, b, "0", "", treeOf(b)])).lines).toEqual(["state already"]);
    expect(parseActivate((await run("activate", [base, b, "", "0"])).lines!)?.was).toBe(c);
    await run("activate", [base, c, "", "0"]);

    // prune keeps 1 but never current or previous
    const d = commit("other.txt", "x\n");
    await run("prepare", [base, d, "1", "", treeOf(d)], { stdin: bundle(d, c) });
    r = await run("activate", [base, d, "", "1"]);
    expect(r.code).toBe(0);
    const left = parseCensus((await run("census", [base])).lines!).releases.map((x) => x.sha).sort();
    expect(left).toEqual([c, d].sort());
    expect(parseActivate(r.lines!)?.pruned).toEqual([b]);
    expect(a).not.toBe(b);

    // a bundle built against a revision the host does not hold (its cache changed since the census):
    // exit 4 with the revision named (the engine then starts the cache afresh), nothing written
    const e = commit("other.txt", "y\n");
    const f = commit("other.txt", "z\n");
    r = await run("prepare", [base, f, "1", "", treeOf(f)], { stdin: bundle(f, e) });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`could not read the bundle: it needs ${e}, which this host does not hold`);
    expect(existsSync(join(base, "releases", f))).toBe(false);
    expect(existsSync(join(base, "cache.git/refs/tugboat", f))).toBe(false);
    // a base held as a commit without a ref (b, pruned above; as the upstream parent of a patched release is)
    r = await run("prepare", [base, f, "1", "", treeOf(f)], { stdin: bundle(f, b) });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(base, "releases", f, ".tugboat-complete"))).toBe(true);
  });

  it("refuses to promote an incomplete release, and reports a missing revision", async () => {
    const base = join(dir, "srv", "app2");
    const sha = commit("f.txt", "1\n");
    mkdirSync(join(base, "releases", sha), { recursive: true }); // a crashed prepare's leftover
    let r = await run("activate", [base, sha, "", "0"]);
    expect(r.code).toBe(4);
    expect(r.errLines).toEqual([`release ${sha} is not complete on this host`]);
    expect(existsSync(join(base, "current"))).toBe(false);
    r = await run("prepare", [base, "0".repeat(40), "0", "", treeOf("0".repeat(40))]);
    expect(r.code).toBe(4);
    expect(r.errLines?.[0]).toMatch(/is not in the cache/);
    expect(parseCensus((await run("census", [base])).lines!).releases).toEqual([{ sha, complete: false }]);
  });

  it("kills a hung restart at its deadline, children included", async () => {
    const base = join(dir, "srv", "app3");
    const sha = commit("g.txt", "1\n");
    await run("prepare", [base, sha, "1", "", treeOf(sha)], { stdin: bundle(sha) });
    const started = Date.now();
    // the whole step's deadline also holds, whatever the restart's own is: the step's process group is killed
    const r = await run("activate", [base, sha, "sleep 301 & sleep 302; echo never", "0"], { timeoutSec: 1 });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(r).toMatchObject({ code: null, killed: true });
    expect(r.lines).toEqual([expect.stringMatching(/^promoted /), "restart begin"]);
    expect(await processesRunning("sleep 301")).toEqual([]);
    expect(await processesRunning("sleep 302")).toEqual([]);
    const ok = await run("activate", [base, sha, "test -f .tugboat-revision && echo restarted", "0"]);
    expect(ok.errLines).toEqual(["restarted"]);
  });

  it("activate: promote, restart and prune in one exec, each phase reported", async () => {
    const base = join(dir, "srv", "app4");
    const shas: string[] = [];
    for (const v of ["1", "2", "3"]) {
      const sha = commit("h.txt", `${v}\n`);
      shas.push(sha);
      expect((await run("prepare", [base, sha, "1", "", treeOf(sha)], { stdin: bundle(sha) })).code).toBe(0);
    }
    const [a, b, c] = shas as [string, string, string];
    let r = await run("activate", [base, a, "echo restarted from $(cat h.txt)", "0"], { noise: true });
    expect(r.code, r.stderr).toBe(0);
    let report = parseActivate(r.lines!)!;
    expect(report).toMatchObject({ was: null, restart: { outcome: "ok", code: 0 }, pruned: [] });
    expect(r.errLines).toEqual(["restarted from 1"]); // the restart's output goes to stderr: it cannot forge a result line
    r = await run("activate", [base, b, "echo oops; exit 3", "0"]);
    expect(r.code).toBe(3); // the restart ran last, in the step's shell, and ended it
    report = parseActivate(r.lines!, { code: r.code!, ms: 50 })!;
    expect(report).toMatchObject({ was: a, restart: { outcome: "exit", code: 3 } });
    expect(r.errLines).toEqual(["oops"]);
    expect(readlinkSync(join(base, "current"))).toBe(`releases/${b}`); // switched, even though the restart failed
    // keep 1: prunes a (neither current c nor previous b), with its manifest
    r = await run("activate", [base, c, "", "1"]);
    report = parseActivate(r.lines!)!;
    expect(report).toMatchObject({ was: b, restart: null, pruned: [a] });
    expect(readdirSync(join(base, "releases")).sort()).toEqual([b, c].sort());
    for (const s of [b, c]) expect(existsSync(join(base, "releases", s, ".tugboat-index")), s).toBe(true);
    // a hung restart is killed at the step's deadline: the lines so far say the switch was done
    const started = Date.now();
    r = await run("activate", [base, b, "sleep 300 & sleep 300", "0"], { timeoutSec: 1 });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(r.code).toBe(null);
    expect(parseActivate(r.lines!)).toMatchObject({ was: c, restart: null });
    // a restart that ends the step's shell itself: its exit status is the restart's outcome
    r = await run("activate", [base, c, "exit 7", "0"]);
    expect(r.code).toBe(7);
    expect(parseActivate(r.lines!, { code: 7, ms: 50 })).toMatchObject({ was: b, restart: { outcome: "exit", code: 7 } });
    r = await run("activate", [base, b, "exit 0", "0"]);
    expect(parseActivate(r.lines!, { code: r.code!, ms: 50 })).toMatchObject({ was: c, restart: { outcome: "ok", code: 0 } });
    // with a prune to follow, the restart runs in a subshell: its exit cannot end the step before the prune
    r = await run("activate", [base, c, "exit 5", "1"]);
    expect(r.code).toBe(0);
    expect(parseActivate(r.lines!)).toMatchObject({ was: b, restart: { outcome: "exit", code: 5 } });
    // a release the host does not keep: exit 4, nothing switched
    r = await run("activate", [base, a, "", "0"]);
    expect(r.code).toBe(4);
    expect(readlinkSync(join(base, "current"))).toBe(`releases/${c}`);
  });
});

describe("warm releases: made from the live one, sharing unchanged files", () => {
  let wrepo: string;
  const wgit = (...args: string[]) => execFileSync("git", ["-C", wrepo, ...args], { encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x" } }).trim();
  const wbundle = (sha: string) => {
    wgit("update-ref", `refs/tugboat/staged/${sha}`, sha);
    return execFileSync("git", ["-C", wrepo, "bundle", "create", "-", `refs/tugboat/staged/${sha}`], { stdio: ["ignore", "pipe", "pipe"] });
  };
  const files = (n: number) => Array.from({ length: n }, (_, i) => `dir${i % 7}/file${i}.txt`);
  let v1: string;
  let v2: string;

  beforeAll(() => {
    wrepo = join(dir, "wrepo");
    execFileSync("git", ["init", "-q", "-b", "main", wrepo]);
    for (const f of files(200)) {
      mkdirSync(join(wrepo, f, ".."), { recursive: true });
      writeFileSync(join(wrepo, f), `content of ${f}\n`);
    }
    writeFileSync(join(wrepo, "run.sh"), "#!/bin/sh\necho v1\n");
    // symlinks, to a file and to a directory: a warm copy takes them as they are, never what they point to
    symlinkSync("dir3/file3.txt", join(wrepo, "alias.txt"));
    symlinkSync("dir3", join(wrepo, "dirlink"));
    wgit("add", "-A");
    wgit("commit", "-qm", "v1");
    v1 = wgit("rev-parse", "HEAD");
    // v2: one file changed, one removed, one added, one only made executable
    writeFileSync(join(wrepo, "dir0/file0.txt"), "changed\n");
    rmSync(join(wrepo, "dir1/file1.txt"));
    writeFileSync(join(wrepo, "dir2/new.txt"), "new\n");
    chmodSync(join(wrepo, "run.sh"), 0o755);
    rmSync(join(wrepo, "alias.txt"));
    symlinkSync("dir4/file4.txt", join(wrepo, "alias.txt"));
    wgit("add", "-A");
    wgit("commit", "-qm", "v2");
    v2 = wgit("rev-parse", "HEAD");
  });

  /** Every file of a release against the revision: content and mode, nothing missing, nothing extra. */
  const checkRelease = (rel: string, sha: string) => {
    const listed = wgit("ls-tree", "-r", sha).split("\n").map((l) => {
      const [meta, path] = l.split("\t") as [string, string];
      return { mode: meta.split(" ")[0]!, path };
    });
    for (const { mode, path } of listed) {
      if (mode === "120000") {
        expect(readlinkSync(join(rel, path)), path).toBe(wgit("show", `${sha}:${path}`));
        continue;
      }
      expect(readFileSync(join(rel, path), "utf8"), path).toBe(wgit("show", `${sha}:${path}`) + "\n");
      expect(statSync(join(rel, path)).mode & 0o777, path).toBe(mode === "100755" ? 0o755 : 0o644);
    }
    const onDisk = execFileSync("find", [".", "(", "-type", "f", "-o", "-type", "l", ")", "!", "-name", ".tugboat-*"], { cwd: rel, encoding: "utf8" }).trim().split("\n");
    expect(onDisk.length).toBe(listed.length);
  };

  async function deployV1(base: string) {
    expect((await run("prepare", [base, v1, "1", "", treeOf(v1)], { stdin: wbundle(v1) })).code).toBe(0);
    expect((await run("activate", [base, v1, "", "0"])).code).toBe(0);
  }

  it("writes only what changed, shares the rest by hard link, and never changes the live release", async () => {
    const base = join(dir, "srv", "warm1");
    await deployV1(base);
    const r1 = join(base, "releases", v1);
    // every file, the markers and the manifest (.tugboat-index) included, as bytes
    const before = new Map(execFileSync("find", [".", "-type", "f"], { cwd: r1, encoding: "utf8" }).trim().split("\n").map((p) => [p, readFileSync(join(r1, p))]));
    expect(before.has("./.tugboat-index")).toBe(true);
    const indexIno = statSync(join(r1, ".tugboat-index")).ino;
    const modesBefore = new Map([...before.keys()].map((p) => [p, statSync(join(r1, p)).mode]));
    const r = await run("prepare", [base, v2, "1", "", treeOf(v2)], { stdin: wbundle(v2), noise: true });
    expect(r.code, r.stderr).toBe(0);
    expect(parsePrepare(r.lines!)).toMatchObject({ mode: "warm", from: v1, fallback: null });
    const r2 = join(base, "releases", v2);
    checkRelease(r2, v2);
    // the live release, byte for byte and mode for mode
    for (const [p, bytes] of before) {
      expect(readFileSync(join(r1, p)).equals(bytes), p).toBe(true);
      expect(statSync(join(r1, p)).mode, p).toBe(modesBefore.get(p));
    }
    // changed files are new inodes; unchanged ones are shared
    expect(statSync(join(r2, "dir0/file0.txt")).ino).not.toBe(statSync(join(r1, "dir0/file0.txt")).ino);
    expect(statSync(join(r2, "run.sh")).ino).not.toBe(statSync(join(r1, "run.sh")).ino);
    expect(statSync(join(r2, "dir3/file3.txt")).ino).toBe(statSync(join(r1, "dir3/file3.txt")).ino);
    // the new release's manifest was written as a new file, never through the live one's link
    expect(statSync(join(r1, ".tugboat-index")).ino).toBe(indexIno);
    expect(statSync(join(r2, ".tugboat-index")).ino).not.toBe(indexIno);
    expect(statSync(join(r1, ".tugboat-index")).nlink).toBe(1);
    // the manifests list every path: the deploy user's alone, whatever the umask (the files follow it)
    for (const r of [r1, r2]) expect(statSync(join(r, ".tugboat-index")).mode & 0o777, r).toBe(0o600);
    expect(readlinkSync(join(r1, "alias.txt"))).toBe("dir3/file3.txt");
    expect(lstatSync(join(r2, "dirlink")).isSymbolicLink()).toBe(true);
    expect(existsSync(join(r1, "dir1/file1.txt"))).toBe(true);
    expect(existsSync(join(r2, "dir1/file1.txt"))).toBe(false);
  });

  /** v3 and v4 on top of v2 (made once): a file changed in each. */
  let later: [string, string] | null = null;
  const v3v4 = (): [string, string] => {
    if (later) return later;
    writeFileSync(join(wrepo, "dir4/file4.txt"), "v3\n");
    wgit("commit", "-qam", "v3");
    const v3 = wgit("rev-parse", "HEAD");
    writeFileSync(join(wrepo, "dir6/file6.txt"), "v4\n");
    wgit("commit", "-qam", "v4");
    return (later = [v3, wgit("rev-parse", "HEAD")]);
  };
  /** Releases v1, v2, v3 on a host keeping 3; v3 live, v2 the previous one. */
  async function deployThree(base: string, v3: string) {
    for (const sha of [v1, v2, v3]) {
      expect((await run("prepare", [base, sha, "1", "", treeOf(sha), "3"], { stdin: wbundle(sha) })).code).toBe(0);
      expect((await run("activate", [base, sha, "", "0"])).code).toBe(0);
    }
  }
  const filesOf = (rel: string) => execFileSync("find", [".", "-type", "f", "!", "-name", ".tugboat-*"], { cwd: rel, encoding: "utf8" }).trim().split("\n");

  it("recycles the oldest prunable release into the new one: only what differs is written, the live release untouched", async () => {
    const [v3, v4] = v3v4();
    const base = join(dir, "srv", "recycle1");
    await deployThree(base, v3);
    const live = join(base, "releases", v3);
    const before = new Map(filesOf(live).map((p) => [p, { text: readFileSync(join(live, p), "utf8"), ino: statSync(join(live, p)).ino, mode: statSync(join(live, p)).mode }]));
    const r = await run("prepare", [base, v4, "1", "", treeOf(v4), "3"], { stdin: wbundle(v4) });
    expect(r.code, r.stderr).toBe(0);
    // v1 -> v4: dir0/file0 changed, dir1/file1 removed, dir2/new added, run.sh made executable, dir4/file4 and dir6/file6 changed
    expect(parsePrepare(r.lines!)).toMatchObject({ mode: "recycled", from: v1, fallback: null, notes: [] });
    expect(existsSync(join(base, "releases", v1))).toBe(false);
    expect(existsSync(join(base, "indexes"))).toBe(false); // each manifest lives in its release
    const r4 = join(base, "releases", v4);
    checkRelease(r4, v4);
    for (const [p, was] of before) {
      expect(readFileSync(join(live, p), "utf8"), p).toBe(was.text);
      expect(statSync(join(live, p)), p).toMatchObject({ ino: was.ino, mode: was.mode });
    }
    expect(statSync(join(r4, "dir5/file5.txt")).ino).toBe(statSync(join(live, "dir5/file5.txt")).ino); // unchanged: shared
    expect(statSync(join(r4, "dir6/file6.txt")).ino).not.toBe(statSync(join(live, "dir6/file6.txt")).ino);
    expect(readFileSync(join(r4, ".tugboat-revision"), "utf8")).toBe(`${v4}\n`);
    expect(readFileSync(join(live, ".tugboat-revision"), "utf8")).toBe(`${v3}\n`);
    const census = parseCensus((await run("census", [base])).lines!);
    expect(census.releases.map((x) => x.sha).sort()).toEqual([v2, v3, v4].sort());
    expect(census.releases.every((x) => x.complete)).toBe(true);
  });

  it("does not reuse a damaged prunable release: says so and makes the release from the live one", async () => {
    const [v3, v4] = v3v4();
    const base = join(dir, "srv", "recycle2");
    await deployThree(base, v3);
    unlinkSync(join(base, "releases", v1, "dir5/file5.txt"));
    const r = await run("prepare", [base, v4, "1", "", treeOf(v4), "3"], { stdin: wbundle(v4) });
    expect(r.code, r.stderr).toBe(0);
    const report = parsePrepare(r.lines!);
    expect(report).toMatchObject({ mode: "warm", from: v3, fallback: null });
    expect(report.notes).toEqual([`could not reuse release ${v1}: files missing or differing from the revision (0 differing, 1 missing, 0 extra)`]);
    checkRelease(join(base, "releases", v4), v4);
  });

  it("does not reuse a prunable release with an extra file or an edited one, and counts each kind", async () => {
    const [v3, v4] = v3v4();
    const base = join(dir, "srv", "recycle3");
    await deployThree(base, v3);
    writeFileSync(join(base, "releases", v1, "dir5/stray.txt"), "left behind\n");
    // a new file in place of a shared one (a chmod would change the live release's inode too)
    unlinkSync(join(base, "releases", v1, "dir3/file3.txt"));
    writeFileSync(join(base, "releases", v1, "dir3/file3.txt"), "edited by hand\n");
    const r = await run("prepare", [base, v4, "1", "", treeOf(v4), "3"], { stdin: wbundle(v4) });
    expect(r.code, r.stderr).toBe(0);
    const report = parsePrepare(r.lines!);
    expect(report).toMatchObject({ mode: "warm", from: v3, fallback: null });
    expect(report.notes).toEqual([`could not reuse release ${v1}: files missing or differing from the revision (1 differing, 0 missing, 1 extra)`]);
    checkRelease(join(base, "releases", v4), v4);
    expect(existsSync(join(base, "releases", v4, "dir5/stray.txt"))).toBe(false);
  });

  it("falls back to a full build, and says why, when the live release was damaged", async () => {
    const base = join(dir, "srv", "warm2");
    await deployV1(base);
    unlinkSync(join(base, "releases", v1, "dir5/file5.txt")); // a file missing from the live release
    const r = await run("prepare", [base, v2, "1", "", treeOf(v2)], { stdin: wbundle(v2) });
    expect(r.code, r.stderr).toBe(0);
    const report = parsePrepare(r.lines!);
    expect(report.mode).toBe("full");
    expect(report.fallback).toMatch(/differs from its revision|failed its check/);
    checkRelease(join(base, "releases", v2), v2);
  });

  it("falls back when the live release's manifest is gone, and a damaged cache repository is an error the engine can reset", async () => {
    const base = join(dir, "srv", "warm3");
    await deployV1(base);
    rmSync(join(base, "releases", v1, ".tugboat-index"));
    let r = await run("prepare", [base, v2, "1", "", treeOf(v2)], { stdin: wbundle(v2) });
    expect(parsePrepare(r.lines!)).toMatchObject({ mode: "full", fallback: `no manifest of the live release ${v1}` });
    // corrupt the cache: every object gone
    rmSync(join(base, "cache.git", "objects"), { recursive: true, force: true });
    mkdirSync(join(base, "cache.git", "objects"));
    rmSync(join(base, "releases", v2), { recursive: true });
    r = await run("prepare", [base, v2, "0", "", treeOf(v2)]);
    expect(r.code).toBe(4);
    r = await run("prepare", [base, v2, "1", "reset", treeOf(v2)], { stdin: wbundle(v2) });
    expect(r.code, r.stderr).toBe(0);
    expect(parsePrepare(r.lines!)).toMatchObject({ cacheReset: true, mode: "full" });
    checkRelease(join(base, "releases", v2), v2);
  });
  it("ship: prepare then activate in one exec; a prepare that fails or hangs stops before the switch", async () => {
    const base = join(dir, "srv", "app-ship");
    const a = commit("s.txt", "1\n");
    const b = commit("s.txt", "2\n");
    const c = commit("s.txt", "3\n");
    // login-file noise exports a variable: the restart runs in the login environment, as activate alone does
    let r = await run("ship", [base, a, "1", "", treeOf(a), "5", 'echo "restart saw $GREETING in $(cat s.txt)"', "5"], { stdin: bundle(a), noise: true });
    expect(r.code, r.stderr).toBe(0);
    expect(parsePrepare(r.lines!)).toMatchObject({ mode: "full", fallback: "no live release" });
    expect(parseActivate(r.lines!)).toMatchObject({ was: null, restart: { outcome: "ok", code: 0 } });
    expect(r.errLines).toEqual(["restart saw hello in 1"]);
    expect(readlinkSync(join(base, "current"))).toBe(`releases/${a}`);
    r = await run("ship", [base, b, "1", "", treeOf(b), "5", "", "5"], { stdin: bundle(b, a) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines!.filter((l) => !l.startsWith("promoted "))).toEqual([`state prepared warm ${a}`]);
    expect(parseActivate(r.lines!)).toMatchObject({ was: a, restart: null });
    expect(readlinkSync(join(base, "current"))).toBe(`releases/${b}`);

    // prepare fails (a bad argument): it says so with its exit code, nothing is switched, no restart runs
    r = await run("ship", [base, c, "1", "", "not-a-tree", "5", "echo restarted", "5"], { stdin: bundle(c, b) });
    expect(r.code).toBe(2);
    expect(r.lines).toEqual(["prepare exit 2"]);
    expect(r.errLines).toEqual(["bad tree argument"]);
    expect(readlinkSync(join(base, "current"))).toBe(`releases/${b}`);

    // prepare hangs (a bundle that never comes): timeout(1) kills it on the host at prepare's own
    // deadline, even with the connection still open, and the step ends there
    const nonce = "hang";
    const command = stepCommand("ship", [base, c, "1", "", treeOf(c), "5", "echo restarted", "5"], { umask: "022", timeoutSec: 1, nonce });
    const started = Date.now();
    const child = spawn("/bin/sh", ["-c", command], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    child.stdin.destroy();
    expect(Date.now() - started).toBeLessThan(4000);
    expect(code).toBe(124);
    expect(framed(out, nonce)).toEqual(["prepare exit 124"]);
    expect(framed(err, nonce)).toEqual([]);
    expect(readlinkSync(join(base, "current"))).toBe(`releases/${b}`);
    expect(readdirSync(join(base, "releases")).sort()).toEqual([a, b].sort());
  });
});
