// Checks the test fleet itself against real OpenSSH: each host has its own address, hostname and private
// /srv; only the noisy host prints text and sets umask 077; the tarpit never sends a banner; the
// wrong-key host fails strict host key checking; stopped hosts refuse connections and come back; and
// nothing (sshd, session, temp dir) survives stop() or a SIGTERM to the process that started the fleet.

import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NOISE, NOISY_UMASK, startFleet, type Fleet, type FleetEndpoint } from "../servers/fleet.js";
import { readSshBanner } from "../servers/fleet/ssh-banner.js";

const SLOW = { timeout: 30_000 };
const HOSTS = 20;

describe(`test fleet (${HOSTS} hosts + every special host)`, () => {
  let started: Fleet | undefined;

  function fleet(): Fleet {
    if (!started) throw new Error("the fleet did not start (see beforeAll)");
    return started;
  }

  function special(host: FleetEndpoint | null, what: string): FleetEndpoint {
    if (!host) throw new Error(`the fleet has no ${what} host`);
    return host;
  }

  beforeAll(async () => {
    started = await startFleet({ hosts: HOSTS, special: { tarpit: true, hangingRestart: true, noisyBashrc: true, wrongHostKey: true } });
  }, 120_000);

  afterAll(async () => {
    if (!started) return;
    const dir = started.dir;
    await started.stop();
    expect(await pgrep(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  it("gives each host its own loopback address, hostname and host key, all in known_hosts", SLOW, async () => {
    const f = fleet();
    expect(f.hosts.map((h) => h.name)).toEqual(Array.from({ length: HOSTS }, (_, i) => `web${String(i + 1).padStart(2, "0")}`));
    expect(f.hosts.map((h) => h.address)).toEqual(Array.from({ length: HOSTS }, (_, i) => `127.0.1.${i + 1}`));
    expect([f.tarpit, f.hanging, f.noisy, f.wrongKey].map((h) => h?.address)).toEqual(["127.0.1.21", "127.0.1.22", "127.0.1.23", "127.0.1.24"]);

    const results = await Promise.all(f.hosts.map((h) => f.exec(h, ["hostname"])));
    expect(results.map((r) => r.stdout.trim())).toEqual(f.hosts.map((h) => h.name));
    expect(results.every((r) => r.code === 0 && r.stderr === "")).toBe(true);

    const knownHosts = (await readFile(f.knownHostsPath, "utf8")).trim().split("\n");
    const keys = new Set(knownHosts.map((line) => line.split(" ")[2]));
    expect(knownHosts).toHaveLength(HOSTS + 3);
    expect(keys.size).toBe(HOSTS + 3);
    expect(knownHosts[0]).toMatch(new RegExp(`^\\[127\\.0\\.1\\.1\\]:${f.port} ssh-ed25519 \\S+ web01$`));
  });

  it("passes argv words through the remote shell unchanged", SLOW, async () => {
    const words = ["a b", "it's", "$HOME", "", "*", "back\\slash", "new\nline", "ünï ☕"];
    const r = await fleet().exec("web01", ["printf", "[%s]\\n", ...words]);
    expect(r).toEqual({ code: 0, stdout: words.map((w) => `[${w}]\n`).join(""), stderr: "" });
  });

  it("keeps serving with 30 unauthenticated connections open (MaxStartups raised from 10:30:100)", SLOW, async () => {
    const f = fleet();
    const web02 = f.host("web02");
    // Each held connection has had its banner, so sshd counts it as a startup until LoginGraceTime.
    const held = await Promise.all(Array.from({ length: 30 }, () => holdConnection(web02)));
    try {
      // OpenSSH's default would now drop ~45% of new connections (30% at 10 startups, rising to 100%).
      const results = await Promise.all(Array.from({ length: 5 }, () => f.exec(web02, ["true"])));
      expect(results.filter((r) => r.code !== 0)).toEqual([]);
    } finally {
      for (const socket of held) socket.destroy();
    }
  });

  it("gives each host a private /srv, at host.srv on the real filesystem", SLOW, async () => {
    const f = fleet();
    const [web01, web02] = f.hosts;
    if (!web01 || !web02) throw new Error("need two hosts");
    const write = await f.exec(web01, ["sh", "-c", "echo 'from web01' > /srv/deployment/marker && ls -n /srv/deployment/marker"]);
    expect(write).toMatchObject({ code: 0, stderr: "" });

    expect(await readFile(join(web01.srv, "deployment", "marker"), "utf8")).toBe("from web01\n");
    const owner = await stat(join(web01.srv, "deployment", "marker"));
    const id = await f.exec(web01, ["id", "-u"]);
    expect(owner.uid).toBe(Number(id.stdout.trim()));
    expect(owner.mode & 0o777).toBe(0o644);

    expect((await f.exec(web02, ["test", "-e", "/srv/deployment/marker"])).code).toBe(1);
    expect(existsSync(join(web02.srv, "deployment", "marker"))).toBe(false);
    // The shared /tmp would show every host's files: each host covers them with an empty tmpfs.
    expect(await f.exec(web02, ["ls", "-A", join(f.dir, "hosts")])).toMatchObject({ code: 0, stdout: "" });
  });

  it("lets the deploy user own /srv/deployment, with key auth only", SLOW, async () => {
    const f = fleet();
    const r = await f.exec("web03", ["sh", "-c", 'stat -c "%U %a" /srv/deployment; touch /srv/not-allowed']);
    expect(r.stdout).toBe(`${f.user} 755\n`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
  });

  it("is quiet on normal hosts, and prints text and sets umask 077 only on the noisy host", SLOW, async () => {
    const f = fleet();
    const noisy = special(f.noisy, "noisy");
    expect(await f.exec("web01", ["umask"])).toEqual({ code: 0, stdout: "0022\n", stderr: "" });
    expect(await f.exec("web01", ["sh", "-l", "-c", "umask"])).toEqual({ code: 0, stdout: "0022\n", stderr: "" });

    // sshd runs the command with the user's shell, bash there, which reads ~/.bashrc under sshd.
    const plain = await f.exec(noisy, ["umask"]);
    expect(plain.code).toBe(0);
    expect(plain.stdout.split("\n")).toEqual([NOISE.bashrc, NOISY_UMASK, ""]);
    expect(plain.stderr).toContain(NOISE.bashrcStderr);

    const login = await f.exec(noisy, ["bash", "-l", "-c", "umask"]);
    expect(login.stdout).toContain(NOISE.profile);
    expect(login.stdout.trim().split("\n").at(-1)).toBe(NOISY_UMASK);
    expect((await f.exec(noisy, ["sh", "-c", 'echo "$SHELL"'])).stdout).toBe(`${NOISE.bashrc}\n/bin/bash\n`);
  });

  it("marks the hanging host with /srv/HANG and no other", SLOW, async () => {
    const f = fleet();
    const hanging = special(f.hanging, "hanging");
    expect((await f.exec(hanging, ["test", "-f", "/srv/HANG"])).code).toBe(0);
    expect((await f.exec("web01", ["test", "-e", "/srv/HANG"])).code).toBe(1);
  });

  it("has a tarpit that accepts TCP but sends no banner within 2 s", SLOW, async () => {
    const tarpit = special(fleet().tarpit, "tarpit");
    const started = Date.now();
    const { connected, received } = await probe(tarpit, 2_000);
    expect(connected).toBe(true);
    expect(received).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
  });

  it("rejects the wrong-key host under StrictHostKeyChecking=yes, though its sshd is up", SLOW, async () => {
    const f = fleet();
    const wrongKey = special(f.wrongKey, "wrong-key");
    expect(await readSshBanner(wrongKey.address, wrongKey.port, 5_000)).toMatch(/^SSH-2\.0-OpenSSH_/);
    const r = await f.exec(wrongKey, ["true"]);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED/);
    expect(r.stderr).toMatch(/Host key verification failed/);
  });

  it("refuses connections to a stopped host and serves again after startHost, files intact", SLOW, async () => {
    const f = fleet();
    const web04 = f.host("web04");
    expect((await f.exec(web04, ["sh", "-c", "echo kept > /srv/deployment/kept"])).code).toBe(0);
    // A session still running when the host goes down dies with it, as on a power cut.
    const longRunning = f.exec(web04, ["sleep", "61.5"]);
    await waitFor(async () => (await pgrep("sleep 61.5")).length === 1);

    await f.stopHost("web04");
    expect((await longRunning).code).toBe(255);
    expect(await pgrep("sleep 61.5")).toEqual([]);
    expect(await probe(web04, 1_000)).toEqual({ connected: false, received: 0, error: "ECONNREFUSED" });
    const refused = await f.exec(web04, ["true"]);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/Connection refused/);
    expect((await f.exec("web05", ["true"])).code).toBe(0);

    await f.startHost("web04");
    expect(await f.exec(web04, ["sh", "-c", "hostname; cat /srv/deployment/kept"])).toEqual({ code: 0, stdout: "web04\nkept\n", stderr: "" });
  });
});

describe("test fleet cleanup", () => {
  it("kills every host and removes the temp dir when the owning process gets SIGTERM", { timeout: 60_000 }, async () => {
    const fleetModule = new URL("../servers/fleet.ts", import.meta.url).href;
    const script = `import { startFleet } from ${JSON.stringify(fleetModule)};
      const fleet = await startFleet({ hosts: 2 });
      console.log(fleet.dir);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));
    const dir = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        out += chunk;
        if (out.includes("\n")) resolve(out.trim());
      });
      void exited.then((how) => reject(new Error(`the fleet process exited (${String(how)}) before printing its dir`)));
    });
    expect(await pgrep(dir)).toHaveLength(4); // an unshare and an sshd per host

    child.kill("SIGTERM");
    expect(await exited).toBe("SIGTERM");
    // SIGKILLed pid 1 takes the rest of its namespace down asynchronously.
    await waitFor(async () => (await pgrep(dir)).length === 0);
    expect(existsSync(dir)).toBe(false);
  });
});

/** Pids of processes whose command line contains `pattern` (a fixed string). */
function pgrep(pattern: string): Promise<number[]> {
  const regex = pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new Promise((resolve, reject) => {
    execFile("pgrep", ["-f", regex], { encoding: "utf8" }, (error, stdout) => {
      // pgrep exits 1 when nothing matches.
      if (error && error.code !== 1) reject(error);
      else resolve(stdout.split("\n").filter(Boolean).map(Number));
    });
  });
}

/** A raw connection to a host's sshd, open once the server's banner has arrived. */
function holdConnection(host: FleetEndpoint): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: host.address, port: host.port });
    socket.once("data", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Opens a TCP connection and counts the bytes the server sends within `ms`. */
function probe(host: FleetEndpoint, ms: number): Promise<{ connected: boolean; received: number; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: host.address, port: host.port });
    const result: { connected: boolean; received: number; error?: string } = { connected: false, received: 0 };
    socket.on("connect", () => (result.connected = true));
    socket.on("data", (chunk) => (result.received += chunk.length));
    socket.on("error", (err: NodeJS.ErrnoException) => (result.error = err.code ?? err.message));
    setTimeout(() => {
      socket.destroy();
      resolve(result);
    }, ms);
  });
}

async function waitFor(condition: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(50);
  }
}
