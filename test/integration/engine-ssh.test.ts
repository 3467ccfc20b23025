// The sync engine against a fleet of real OpenSSH servers (an sshd per host, each in its own mount
// namespace with a private /srv): what an operator would check by hand on each host.
import { chmodSync, existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, unlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { FleetConnections } from "../../src/fleet/connections.js";
import { KnownHosts } from "../../src/fleet/known-hosts.js";
import { Ssh2Shell } from "../../src/fleet/ssh2-shell.js";
import { git, TempDirs, UpstreamRepo } from "../fixtures/git-repos.js";
import { freePort } from "../servers/daemon.js";
import { startFleet, type Fleet } from "../servers/fleet.js";
import { makeEngine } from "../support/engine.js";
import { processesRunning } from "../support/processes.js";

const temp = new TempDirs();
let fleet: Fleet;
let upstream: UpstreamRepo;
let dir: string;
let shell: Ssh2Shell;
const HANDSHAKE_MS = 5000;
/** Chosen at start-up (a fixed port may be taken on a busy CI machine). */
let SMOKE_PORT = 0;

const live = (srv: string) => readlinkSync(join(srv, "deployment/app/current")).replace("releases/", "");


function setup(app: Record<string, unknown> = {}, targets: string[] = ["web"], over: Ssh2Shell = shell) {
  const hosts = [
    ...fleet.hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, groups: ["web"] })),
    ...(fleet.noisy ? [{ name: "noisy", address: fleet.noisy.address, port: fleet.noisy.port, groups: ["odd"] }] : []),
    ...(fleet.hanging ? [{ name: "hanging", address: fleet.hanging.address, port: fleet.hanging.port, groups: ["hang"] }] : []),
    ...(fleet.tarpit ? [{ name: "tarpit", address: fleet.tarpit.address, port: fleet.tarpit.port, groups: ["odd"] }] : []),
    ...(fleet.wrongKey ? [{ name: "wrongkey", address: fleet.wrongKey.address, port: fleet.wrongKey.port, groups: ["odd"] }] : []),
  ];
  return makeEngine({
    dir,
    shell: over,
    config: {
      fleet: { transport: "ssh", ssh: { user: fleet.user }, hosts },
      apps: { app: { repo: upstream.dir, deployPath: "/srv/deployment/app", targets, canaries: ["web01", "web02"], batchSize: "50%", failureBudget: "10%", timeouts: { restartSec: 2, promoteSec: 4, prepareSec: 60, censusSec: 10 }, ...app } },
    },
  });
}

/** An Ssh2Shell for the test fleet's hosts (its key and known_hosts). */
function fleetShell(handshakeTimeoutMs: number): Ssh2Shell {
  return new Ssh2Shell({
    knownHosts: new KnownHosts(readFileSync(fleet.knownHostsPath, "utf8")),
    privateKey: readFileSync(fleet.privateKeyPath),
    agent: null,
    handshakeTimeoutMs,
    keepaliveIntervalMs: 5000,
    keepaliveCountMax: 3,
    maxHandshakes: 16,
  });
}

beforeAll(async () => {
  dir = temp.make("tugboat-engine-ssh-");
  fleet = await startFleet({ hosts: 20, special: { tarpit: true, hangingRestart: true, noisyBashrc: true, wrongHostKey: true } });
  shell = fleetShell(HANDSHAKE_MS);
  upstream = UpstreamRepo.create(temp.make("tugboat-upstream-"));
  const files: Record<string, string> = { "bin/serve": "#!/bin/sh\necho serving\n" };
  for (let i = 0; i < 500; i++) files[`src/f${i}.php`] = `<?php // ${i}\n`.repeat(30);
  upstream.commit(files, "initial");
  chmodSync(join(upstream.dir, "bin/serve"), 0o755);
  upstream.commit({ README: "an app\n" }, "make bin/serve executable");
}, 180_000);

afterAll(async () => {
  await shell?.close();
  await fleet?.stop();
  temp.removeAll();
});

describe("DeployEngine over SSH", () => {
  it("deploys to 20 hosts and a host with a noisy .bashrc and umask 077: current, modes and revision right everywhere", async () => {
    const t = setup({}, ["web", "noisy"]);
    const result = await t.engine.deploy({ app: "app", reason: "first", nick: "alice" });
    expect(result.problems).toEqual([]);
    expect(result.state).toBe("succeeded");
    for (const h of [...fleet.hosts, fleet.noisy!]) {
      expect(live(h.srv)).toBe(result.to);
      const rel = join(h.srv, "deployment/app/releases", result.to);
      expect(statSync(join(rel, "src/f1.php")).mode & 0o777).toBe(0o644);
      expect(statSync(join(rel, "bin/serve")).mode & 0o777).toBe(0o755);
      expect(statSync(rel).mode & 0o777).toBe(0o755);
      expect(readFileSync(join(rel, ".tugboat-revision"), "utf8").trim()).toBe(result.to);
    }
  });

  it("reports each odd host with its true cause, leaves them out, and is bounded by the deadlines", async () => {
    upstream.commit({ "src/f1.php": "<?php // changed\n" }, "change 1");
    const t = setup({ restart: 'if [ -f /srv/HANG ]; then sleep 613; fi' }, ["web", "odd", "hang"]);
    const started = Date.now();
    const result = await t.engine.deploy({ app: "app", reason: "odd hosts", nick: "alice", onEvent: t.onEvent });
    const byHost = Object.fromEntries(result.problems.map((p) => [p.host, p]));
    expect(byHost.tarpit).toMatchObject({ kind: "timeout", step: "connect" });
    expect(byHost.tarpit?.message).toMatch(/no SSH handshake .* within 5000 ms/);
    expect(byHost.wrongkey).toMatchObject({ kind: "hostkey", step: "connect" });
    expect(byHost.wrongkey?.message).toMatch(/does not match known_hosts/);
    expect(byHost.hanging).toMatchObject({ kind: "timeout", step: "restart" });
    expect(Object.keys(byHost).sort()).toEqual(["hanging", "tarpit", "wrongkey"]);
    // 21 good hosts + hanging in 2 stages; the hang costs its 2 s restart deadline (+ kill), the tarpit its handshake
    expect(Date.now() - started).toBeLessThan(40_000);
    for (const h of fleet.hosts) expect(live(h.srv)).toBe(result.to);
    expect(result.summary).toMatch(/restart timed out: hanging/);
    expect(result.summary).toMatch(/host key refused: wrongkey/);
    expect(byHost.hanging?.message).toMatch(/killed on the host/);
    // the tarpit held nobody: hosts were deployed to while its handshake was still timing out
    const leftOutAt = t.events.findIndex((e) => e.type === "left-out" && e.problems.some((p) => p.host === "tarpit"));
    const firstSwitchAt = t.events.findIndex((e) => e.type === "host-step" && e.step === "promote");
    expect(firstSwitchAt).toBeGreaterThanOrEqual(0);
    expect(firstSwitchAt).toBeLessThan(leftOutAt);
    // killed, not abandoned: sshd killed the step's process group, the hung restart's child included
    expect(await processesRunning("sleep 613")).toEqual([]);
  }, 60_000);

  it("rolls back 20 hosts in seconds, and reports a host that lacks the release", async () => {
    const t = setup({}, ["web"]);
    const before = live(fleet.hosts[0]!.srv);
    const previous = readFileSync(join(fleet.hosts[0]!.srv, "deployment/app/.tugboat-previous"), "utf8").trim();
    const started = Date.now();
    const result = await t.engine.rollback({ app: "app", reason: "undo", nick: "bob" });
    const ms = Date.now() - started;
    expect(result.state).toBe("succeeded");
    expect(result.from).toBe(before);
    for (const h of fleet.hosts) expect(live(h.srv)).toBe(previous);
    expect(ms).toBeLessThan(5000);
    await expect(t.engine.rollback({ app: "app", to: "abcdef0", reason: "x", nick: "bob" })).rejects.toThrow("no host keeps a release abcdef0");
  });

  it("runs the smoke checks against each host's HTTP service, expecting the deployed SHA", async () => {
    // Each host's "service" answers with the revision its current release holds; web05's is broken.
    SMOKE_PORT = await freePort(fleet.hosts[0]!.address);
    const servers = await Promise.all(
      fleet.hosts.map(
        (h) =>
          new Promise<Server>((resolve, reject) => {
            const server = createServer((_req, res) => {
              if (h.name === "web05") return void res.writeHead(503).end("down for maintenance");
              res.writeHead(200).end(readFileSync(join(h.srv, "deployment/app/current/.tugboat-revision"), "utf8"));
            });
            server.once("error", reject);
            server.listen(SMOKE_PORT, h.address, () => resolve(server));
          }),
      ),
    );
    try {
      upstream.commit({ "src/f3.php": "<?php // smoke\n" }, "smoke me");
      const t = setup({ smoke: [{ url: `http://{address}:${SMOKE_PORT}/version`, status: 200, contains: "{sha}", timeoutMs: 2000 }], failureBudget: 1, batchSize: 18 }, ["web"]);
      const result = await t.engine.deploy({ app: "app", reason: "smoke", nick: "alice" });
      expect(result.state).toBe("succeeded");
      expect(result.problems).toEqual([expect.objectContaining({ host: "web05", kind: "failed", step: "smoke", message: `smoke check failed: http://${fleet.hosts[4]!.address}:${SMOKE_PORT}/version answered 503, expected 200` })]);
      expect(result.ok).toHaveLength(19);
      expect(t.journal.steps(result.deploy.id).filter((s) => s.step === "smoke" && s.outcome === "ok")).toHaveLength(19);
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
  });

  it("stops a rollout where 30% of hosts break and rolls back every switched host", async () => {
    const t = setup({ restart: 'case "$(hostname)" in web0[3-9]) echo "config error" >&2; exit 2;; esac', batchSize: 18 }, ["web"]);
    const before = fleet.hosts.map((h) => live(h.srv));
    upstream.commit({ "src/f2.php": "<?php // broken\n" }, "broken");
    const result = await t.engine.deploy({ app: "app", reason: "breaks 30%", nick: "alice" });
    expect(result.state).toBe("rolled-back");
    expect(fleet.hosts.map((h) => live(h.srv))).toEqual(before);
    expect(result.problems.some((p) => p.kind === "failed" && p.step === "restart" && p.exitCode === 2 && p.stderrTail === "config error")).toBe(true);
    expect(existsSync(join(fleet.hosts[0]!.srv, "deployment/app/releases", result.to))).toBe(true);
    expect(t.journal.get(result.deploy.id)?.state).toBe("rolled-back");
  });

  it("warm deploys write only the change: the new release matches the revision, the old one is untouched, a damaged one falls back", async () => {
    const t = setup({}, ["web"]);
    const base = (h: { srv: string }) => join(h.srv, "deployment/app");
    const snapshot = (rel: string) => new Map(walk(rel).map((p) => { const st = statSync(join(rel, p)); return [p, { text: readFileSync(join(rel, p), "utf8"), mode: st.mode, ino: st.ino }]; }));
    const old = live(fleet.hosts[0]!.srv);
    const before = fleet.hosts.map((h) => snapshot(join(base(h), "releases", old)));
    upstream.commit({ "src/f10.php": "<?php // warm\n", "src/f11.php": null, "src/new.php": "<?php // new\n" }, "a 3-file change");
    const result = await t.engine.deploy({ app: "app", reason: "warm", nick: "alice" });
    expect(result.state).toBe("succeeded");
    expect(result.fallbacks).toEqual([]);
    const prepares = t.journal.steps(result.deploy.id).filter((s) => s.step === "prepare");
    // the live release was the rollback's, a few commits back: the paths changed since, of the whole tree
    const changed = git(upstream.dir, "diff", "--name-only", old, result.to).split("\n").filter(Boolean).length;
    expect(changed).toBeLessThan(6);
    expect(prepares.map((s) => s.detail)).toEqual(fleet.hosts.map(() => `warm: ${changed} files written or removed, the rest shared with the live release`));
    const wanted = snapshot(upstream.dir);
    fleet.hosts.forEach((h, i) => {
      const rel = join(base(h), "releases", result.to);
      const got = snapshot(rel);
      expect([...got.keys()].sort(), h.name).toEqual([...wanted.keys()].sort());
      for (const [p, w] of wanted) {
        expect(got.get(p)!.text, `${h.name} ${p}`).toBe(w.text);
        expect(got.get(p)!.mode & 0o777, `${h.name} ${p}`).toBe(w.mode & 0o777);
      }
      // the previous release, byte for byte, mode for mode, inode for inode
      expect(snapshot(join(base(h), "releases", old))).toEqual(before[i]);
      expect(got.get("src/f10.php")!.ino).not.toBe(before[i]!.get("src/f10.php")!.ino);
      expect(got.get("src/f12.php")!.ino).toBe(before[i]!.get("src/f12.php")!.ino);
    });

    // web03's live release loses a file, and it keeps no other release to recycle: its next release is
    // built in full, and the deploy says so
    const web03 = base(fleet.hosts[2]!);
    for (const r of readdirSync(join(web03, "releases")).filter((r) => r !== result.to)) rmSync(join(web03, "releases", r), { recursive: true, force: true });
    unlinkSync(join(web03, "releases", result.to, "src/f20.php"));
    upstream.commit({ "src/f30.php": "<?php // after damage\n" }, "another change");
    const next = await t.engine.deploy({ app: "app", reason: "after damage", nick: "alice" });
    expect(next.state).toBe("succeeded");
    expect(next.fallbacks).toEqual([{ host: "web03", reason: expect.stringMatching(/differs from its revision|failed its check/) }]);
    expect(next.summary).toMatch(/built in full: web03/);
    expect(next.summary, "revisions in the summary are short").not.toMatch(/[0-9a-f]{40}/);
    // the others made theirs from the live release or from the oldest release they were due to prune
    const others = t.journal.steps(next.deploy.id).filter((s) => s.step === "prepare" && s.host !== "web03");
    expect(others).toHaveLength(fleet.hosts.length - 1);
    for (const s of others) expect(s.detail, s.host).toMatch(/^warm: 1 files written or removed, the rest shared with the live release$|^recycled release [0-9a-f]{10}: \d+ files written or removed, the rest kept$/);
    const rel = join(base(fleet.hosts[2]!), "releases", next.to);
    expect(readFileSync(join(rel, "src/f20.php"), "utf8")).toBe(readFileSync(join(upstream.dir, "src/f20.php"), "utf8"));
    expect(readFileSync(join(rel, "src/f30.php"), "utf8")).toBe("<?php // after damage\n");
  }, 150_000);
});

describe("FleetConnections: the bot keeps its fleet connected", () => {
  it("connects every host at start, reports the ones it cannot reach once, deploys over those connections, and connects a host again when it is back", async () => {
    const own = fleetShell(2000);
    try {
      const logged: Array<{ level: number; msg: string; failed?: Array<{ host: string; kind: string }>; hosts?: string[] }> = [];
      const log = pino({ level: "info" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
      const all = setup({}, ["web", "odd"], own);
      const keeper = new FleetConnections({ shell: own, hosts: () => all.engine.hosts("app"), log, everyMs: 0 });
      // 20 web hosts and the odd ones: noisy (a real sshd), the tarpit and the wrong host key.
      const first = await keeper.start();
      expect(first).toMatchObject({ hosts: 23, connected: 21 });
      expect(Object.fromEntries(first.failed.map((f) => [f.host, f.kind]))).toEqual({ tarpit: "timeout", wrongkey: "hostkey" });
      expect(own.connectionStats()).toEqual({ open: 21, made: 21 });
      const warnings = () => logged.filter((l) => l.level === 40);
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]!.msg).toMatch(/^cannot connect to .*tarpit.* \(of 23 hosts\)/);
      // A second pass: nothing to connect again, nothing logged again.
      expect(await keeper.sweep()).toMatchObject({ connected: 21 });
      expect(own.connectionStats()).toEqual({ open: 21, made: 21 });
      expect(warnings()).toHaveLength(1);

      // A deploy over the kept connections: not one new handshake.
      upstream.commit({ "src/f40.php": "<?php // kept\n" }, "over kept connections");
      const web = setup({}, ["web"], own);
      const result = await web.engine.deploy({ app: "app", reason: "kept connections", nick: "alice" });
      expect(result.state).toBe("succeeded");
      for (const h of fleet.hosts) expect(live(h.srv)).toBe(result.to);
      expect(own.connectionStats()).toEqual({ open: 21, made: 21 });

      // web03 goes down: its connection is gone and the sweep says why; back up, the sweep connects it.
      await fleet.stopHost("web03");
      try {
        for (let i = 0; i < 50 && own.connectionStats().open > 20; i++) await new Promise((r) => setTimeout(r, 100));
        expect(own.connectionStats().open).toBe(20);
        const down = await keeper.sweep();
        expect(down.failed.find((f) => f.host === "web03")).toMatchObject({ kind: "unreachable" });
        expect(warnings()).toHaveLength(2);
        expect(warnings()[1]!.failed!.map((f) => f.host)).toEqual(["web03"]);
      } finally {
        await fleet.startHost("web03");
      }
      const back = await keeper.sweep();
      expect(back).toMatchObject({ connected: 21 });
      expect(own.connectionStats()).toEqual({ open: 21, made: 22 });
      expect(logged.find((l) => l.level === 30 && l.hosts?.includes("web03"))?.msg).toMatch(/^connected again to web03/);
      keeper.stop();
      expect(await keeper.sweep()).toEqual({ hosts: 0, connected: 0, failed: [] });
    } finally {
      await own.close();
    }
  }, 60_000);
});

describe("Ssh2Shell's kept connections", () => {
  it("runs a command over a fresh connection when the kept one died unnoticed, and never runs a started command twice", async () => {
    const web01 = fleet.hosts[0]!;
    const host = { name: web01.name, address: web01.address, port: web01.port, user: fleet.user, groups: [] };
    expect((await shell.exec(host, { command: "echo one", timeoutMs: 5000 })).stdout).toBe("one\n");
    // The host drops the connection (its sshd session dies), and the next command is sent at once,
    // before the client can have seen the connection close.
    const sessions = sshdSessions(Number(readFileSync(join(fleet.dir, "run", `${web01.name}.pid`), "utf8")));
    expect(sessions.length).toBeGreaterThan(0);
    for (const pid of sessions) process.kill(pid, "SIGKILL");
    const r = await shell.exec(host, { command: "echo two", timeoutMs: 5000 });
    expect(r).toMatchObject({ code: 0, stdout: "two\n" });
    // A command that had started when the connection died is reported, not run again.
    const running = shell.exec(host, { command: "echo started >> /srv/deployment/ran-once; sleep 30", timeoutMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const pid of sshdSessions(Number(readFileSync(join(fleet.dir, "run", `${web01.name}.pid`), "utf8")))) process.kill(pid, "SIGKILL");
    await expect(running).rejects.toMatchObject({ kind: "protocol" });
    expect(readFileSync(join(web01.srv, "deployment/ran-once"), "utf8")).toBe("started\n");
  });

  // Last: it deploys to the hanging host alone, which would change what the journal says is live.
  it("kills a hung restart at its deadline on a rollback too (the restart runs in the step's own shell)", async () => {
    const quiet = setup({}, ["hang"]);
    for (const n of [1, 2]) {
      upstream.commit({ [`src/hang${n}.php`]: `<?php // ${n}\n` }, `hanging host release ${n}`);
      expect((await quiet.engine.deploy({ app: "app", reason: `release ${n}`, nick: "alice" })).state).toBe("succeeded");
    }
    const t = setup({ restart: 'if [ -f /srv/HANG ]; then sleep 617; fi' }, ["hang"]);
    const started = Date.now();
    const result = await t.engine.rollback({ app: "app", reason: "undo on the hanging host", nick: "bob" });
    expect(result.problems).toEqual([expect.objectContaining({ host: "hanging", kind: "timeout", step: "restart" })]);
    expect(result.problems[0]?.message).toMatch(/killed on the host/);
    expect(Date.now() - started).toBeLessThan(15_000); // the restart's 2 s deadline, the kill, a census
    expect(await processesRunning("sleep 617")).toEqual([]);
  }, 60_000);
});

/** The sshd processes serving connections under a host's namespace (not its listener). */
function sshdSessions(root: number): number[] {
  const found: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      for (const t of readdirSync(`/proc/${pid}/task`)) stack.push(...readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(" ").filter(Boolean).map(Number));
    } catch {
      continue;
    }
    if (cmdline.startsWith("sshd: ") && !cmdline.includes("[listener]")) found.push(pid);
  }
  return found;
}

/** Every file under dir (relative paths), without tugboat's own markers. */
function walk(dir: string, prefix = ""): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((e) => {
    const p = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.name === ".git" || e.name.startsWith(".tugboat-")) return [];
    return e.isDirectory() ? walk(dir, p) : [p];
  });
}

