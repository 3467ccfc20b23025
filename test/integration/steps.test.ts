// The host step scripts run for real (/bin/sh, git, coreutils) on directories standing for hosts.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalShell } from "../../src/fleet/local-shell.js";
import type { Host } from "../../src/fleet/remote-shell.js";
import { framed, parseCensus, stepCommand, type StepName } from "../../src/fleet/steps.js";

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

let n = 0;
async function run(step: StepName, args: string[], opts: { stdin?: Buffer; noise?: boolean; timeoutSec?: number } = {}) {
  const nonce = `n${++n}`;
  let command = stepCommand(step, args, { umask: "022", timeoutSec: opts.timeoutSec ?? 30, nonce });
  // What a login shell with a hostile .bashrc does before our command: print, and tighten the umask.
  if (opts.noise) command = `echo "Welcome to web01"; echo "motd" >&2; umask 077; export GIT_DIR=/nonexistent; ${command}`;
  const r = await shell.exec(host, { command, timeoutMs: (opts.timeoutSec ?? 30) * 1000, ...(opts.stdin ? { stdin: opts.stdin } : {}) });
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
    let r = await run("prepare", [base, b, "1"], { stdin: bundle(b), noise: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines).toEqual(["state prepared 2"]);
    expect(r.stdout.startsWith("Welcome to web01")).toBe(true); // the noise was there, and ignored
    // umask 022 despite the login file's 077
    expect(statSync(join(base, "releases", b, "index.html")).mode & 0o777).toBe(0o644);
    expect(statSync(join(base, "releases", b, "run.sh")).mode & 0o777).toBe(0o755);
    expect(statSync(join(base, "releases", b)).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(base, "releases", b, ".tugboat-revision"), "utf8")).toBe(`${b}\n`);

    r = await run("promote", [base, b], { noise: true });
    expect(r.lines).toEqual(["was "]);
    expect(readlinkSync(join(base, "current"))).toBe(`releases/${b}`);

    const c = commit("index.html", "v2\n");
    const small = bundle(c, b);
    expect(small.length).toBeLessThan(bundle(c).length);
    r = await run("prepare", [base, c, "1"], { stdin: small });
    expect(r.code, r.stderr).toBe(0);
    r = await run("promote", [base, c]);
    expect(r.lines).toEqual([`was ${b}`]);
    expect(readlinkSync(join(base, "current"))).toBe(`releases/${c}`);
    expect(readlinkSync(join(base, "previous"))).toBe(`releases/${b}`);

    r = await run("census", [base]);
    const state = parseCensus(r.lines!);
    expect(state).toMatchObject({ current: c, previous: b });
    expect(state.releases.map((x) => x.sha).sort()).toEqual([b, c].sort());
    expect(state.haves).toEqual(expect.arrayContaining([b, c]));

    // preparing what is there already is a no-op; promoting back is the rollback
    expect((await run("prepare", [base, b, "0"])).lines).toEqual(["state already"]);
    expect((await run("promote", [base, b])).lines).toEqual([`was ${c}`]);
    await run("promote", [base, c]);

    // prune keeps 1 but never current or previous
    const d = commit("other.txt", "x\n");
    await run("prepare", [base, d, "1"], { stdin: bundle(d, c) });
    await run("promote", [base, d]);
    r = await run("prune", [base, "1"]);
    expect(r.code).toBe(0);
    const left = parseCensus((await run("census", [base])).lines!).releases.map((x) => x.sha).sort();
    expect(left).toEqual([c, d].sort());
    expect(r.lines).toEqual([`pruned ${b}`]);
    expect(a).not.toBe(b);
  });

  it("refuses to promote an incomplete release, and reports a missing revision", async () => {
    const base = join(dir, "srv", "app2");
    const sha = commit("f.txt", "1\n");
    mkdirSync(join(base, "releases", sha), { recursive: true }); // a crashed prepare's leftover
    let r = await run("promote", [base, sha]);
    expect(r.code).toBe(4);
    expect(r.errLines).toEqual([`release ${sha} is not complete on this host`]);
    expect(existsSync(join(base, "current"))).toBe(false);
    r = await run("prepare", [base, "0".repeat(40), "0"]);
    expect(r.code).toBe(4);
    expect(r.errLines?.[0]).toMatch(/is not in the cache/);
    expect(parseCensus((await run("census", [base])).lines!).releases).toEqual([{ sha, complete: false }]);
  });

  it("kills a hung restart at its deadline, children included", async () => {
    const base = join(dir, "srv", "app3");
    const sha = commit("g.txt", "1\n");
    await run("prepare", [base, sha, "1"], { stdin: bundle(sha) });
    await run("promote", [base, sha]);
    const started = Date.now();
    const r = await run("restart", [base, "sleep 300 & sleep 300; echo never"], { timeoutSec: 1 });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(r.code).toBe(124); // timeout(1)'s "timed out"
    const ok = await run("restart", [base, "test -f .tugboat-revision && echo restarted"]);
    expect(ok.lines).toEqual(["restarted"]);
  });
});
