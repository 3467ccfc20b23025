// Starts a real ngircd for integration tests: a generated config in a fresh temp dir, loopback only, a
// free port, the daemon in the foreground with its log kept in a ring buffer for failure messages.
// The server can be stopped, SIGKILLed and restarted on the same port; leftovers die with the process,
// and servers orphaned by a test process that was itself SIGKILLed are reaped by the next start.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./daemon.js";
import { ensureDebianPackage } from "./ensure-package.js";
import { LineRing } from "./fleet/line-ring.js";

export interface NgircdOptions {
  /** Turn off ngircd's flood penalties (MaxPenaltyTime = 0) so tests never wait on them. */
  readonly fast?: boolean;
  /** Listen on this port instead of a free one. */
  readonly port?: number;
  /** Appended verbatim to the generated config, e.g. an [Operator] or [Channel] section. */
  readonly extraConfig?: string;
  /** Require this server password (PASS) from every client. */
  readonly password?: string;
  /** Also listen with TLS (a self-signed certificate made with openssl) on a second free port. */
  readonly tls?: boolean;
}

export interface NgircdServer {
  readonly host: "127.0.0.1";
  readonly port: number;
  /** The TLS port when started with `tls: true`. */
  readonly tlsPort: number | null;
  /** SIGTERM, then SIGKILL if ngircd has not exited after 5 s. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL: clients see their connection reset, as on a crash. Idempotent. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and config (stopping it first if it runs). */
  restart(): Promise<void>;
  /** The last lines ngircd logged, across restarts. */
  logs(): string;
}

const HOST = "127.0.0.1";
const SERVER_NAME = "irc.tugboat.test";
const READY_DEADLINE_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const LOG_LINES = 2_000;
const PORT_ATTEMPTS = 5;
const DIR_PREFIX = "tugboat-ngircd-";
const CONFIG_FILE = "ngircd.conf";
/** In each temp dir: the pid of the test process that owns it, and of the ngircd it runs. */
const OWNER_PID_FILE = "owner.pid";
const SERVER_PID_FILE = "server.pid";

const liveChildren = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;
let reaped: Promise<void> | undefined;

export async function startNgircd(opts: NgircdOptions = {}): Promise<NgircdServer> {
  const binary = await ensureDebianPackage("ngircd", "ngircd");
  installExitHook();
  reaped ??= reapOrphans();
  await reaped;

  const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX));
  tempDirs.add(dir);
  await writeFile(join(dir, OWNER_PID_FILE), String(process.pid));
  // Started as root, ngircd refuses to keep uid 0 and switches to "nobody" before writing its
  // PidFile: the dir must be traversable (and the config readable, for REHASH) and run/ writable.
  await chmod(dir, 0o755);
  await mkdir(join(dir, "run"));
  await chmod(join(dir, "run"), 0o1777);
  await mkdir(join(dir, "conf.d"));

  const configPath = join(dir, CONFIG_FILE);
  const log = new LineRing(LOG_LINES);
  const tls = opts.tls ? await makeCertificate(dir) : null;
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort(HOST));
    const tlsPort = tls ? await freePort(HOST) : null;
    const extra = [
      opts.password ? `[Global]\nPassword = ${opts.password}` : "",
      tls && tlsPort ? `[SSL]\nCertFile = ${tls.cert}\nKeyFile = ${tls.key}\nPorts = ${tlsPort}` : "",
      opts.extraConfig ?? "",
    ].join("\n");
    const config = renderConfig({ port, dir, fast: opts.fast ?? false, extraConfig: extra });
    await writeFile(configPath, config, { mode: 0o644 });
    await configTest(binary, configPath, config);
    try {
      const running = await launch(binary, configPath, port, log);
      return new NgircdProcess(binary, configPath, port, tlsPort, log, running);
    } catch (err) {
      // Another process took the port between freePort() closing it and ngircd binding it.
      if (err instanceof PortInUseError && opts.port === undefined && attempt < PORT_ATTEMPTS) continue;
      throw err;
    }
  }
}

interface ConfigParams {
  readonly port: number;
  readonly dir: string;
  readonly fast: boolean;
  readonly extraConfig: string;
}

function renderConfig({ port, dir, fast, extraConfig }: ConfigParams): string {
  return [
    "[Global]",
    `Name = ${SERVER_NAME}`,
    "Info = tugboat integration test server",
    // Without these ngircd warns "No administrative information configured but required by RFC!".
    "AdminInfo1 = tugboat integration tests",
    "AdminInfo2 = loopback only",
    "AdminEMail = root@localhost",
    `Listen = ${HOST}`,
    `Ports = ${port}`,
    "MotdPhrase = tugboat test server",
    `PidFile = ${join(dir, "run", "ngircd.pid")}`,
    "",
    "[Limits]",
    "MaxConnections = 0",
    // Default 5: a test with a bot and a few humans would hit it.
    "MaxConnectionsIP = 0",
    // 0 would mean unlimited but is announced as CHANLIMIT=#&+:0, which clients may read as "none".
    "MaxJoins = 100",
    "MaxNickLength = 30",
    // Default -1 (no cap): a client is suspended ~1 s right after registering and after MODE, 2 s after
    // any error reply, and commands beyond 3 per read wait for the next second (3 lines/s). With 0 none
    // of that applies; ngircd logs that 0 "is not recommended", which for tests is the point.
    ...(fast ? ["MaxPenaltyTime = 0"] : []),
    "",
    "[Options]",
    // The default IncludeDir is /etc/ngircd/ngircd.conf.d: keep the machine's config out of the test.
    `IncludeDir = ${join(dir, "conf.d")}`,
    "PAM = no",
    "Ident = no",
    "DNS = no",
    "",
    extraConfig,
    "",
  ].join("\n");
}

class PortInUseError extends Error {}

/** A throw-away self-signed certificate for 127.0.0.1, readable by ngircd after it drops root. */
async function makeCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const openssl = await ensureDebianPackage("openssl", "openssl");
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  await new Promise<void>((resolve, reject) => {
    execFile(
      openssl,
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
      { timeout: 20_000 },
      (error, _stdout, stderr) => (error ? reject(new Error(`openssl failed: ${stderr || error.message}`)) : resolve()),
    );
  });
  await chmod(key, 0o644);
  return { cert, key };
}

/**
 * `ngircd --configtest` exits 0 even for unknown variables or unparsable values; it only prints
 * " - FILE, line N ...: Unknown variable" lines. Those are treated as failures too.
 */
async function configTest(binary: string, configPath: string, config: string): Promise<void> {
  const { code, output } = await new Promise<{ code: number | string | null; output: string }>((resolve) => {
    execFile(binary, ["--configtest", "-f", configPath], { timeout: 10_000, encoding: "utf8" }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? error.signal ?? null) : 0, output: `${stdout}${stderr}` || (error?.message ?? "") });
    });
  });
  const problems = output.split("\n").filter((line) => /^\s*- .*\bline \d+/.test(line));
  if (code === 0 && problems.length === 0) return;
  const numbered = config
    .split("\n")
    .map((line, i) => `${String(i + 1).padStart(3)}  ${line}`)
    .join("\n");
  const detail = problems.length > 0 ? problems.join("\n") : output.trim();
  throw new Error(`ngircd --configtest rejected ${configPath} (exit ${String(code)}):\n${detail}\n--- config ---\n${numbered}`);
}

interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

async function launch(binary: string, configPath: string, port: number, log: LineRing): Promise<Running> {
  log.push(`--- ${new Date().toISOString()} starting ${binary} -n -f ${configPath} (port ${port}) ---`);
  // -n: stay in the foreground and log to stdout (line-buffered), so the log is ours to keep.
  const child = spawn(binary, ["-n", "-f", configPath], { stdio: ["ignore", "pipe", "pipe"] });
  liveChildren.add(child);
  const thisLaunch: string[] = [];
  let listening = false;
  const listeningLine = `Now listening on [${HOST}]:${port}`;
  const onLine = (line: string): void => {
    thisLaunch.push(line);
    log.push(line);
    if (line.includes(listeningLine)) listening = true;
  };
  splitLines(child.stdout, onLine, "");
  splitLines(child.stderr, onLine, "[stderr] ");

  // Written by the event handlers below, read by the readiness loop.
  const state: { exitStatus: string | null; spawnError: Error | null } = { exitStatus: null, spawnError: null };
  const exited = new Promise<void>((resolve) => {
    child.once("error", (err) => {
      state.spawnError = err;
      state.exitStatus = `failed to spawn: ${err.message}`;
      liveChildren.delete(child);
      resolve();
    });
    // "close", not "exit": it comes after stdout is drained, so the log holds ngircd's last words.
    child.once("close", (code, signal) => {
      state.exitStatus = signal ? `killed by ${signal}` : `exited with code ${String(code)}`;
      log.push(`--- ngircd ${state.exitStatus} ---`);
      liveChildren.delete(child);
      resolve();
    });
  });

  // After the listeners above: an await before them could miss an early "close".
  if (child.pid !== undefined) await writeFile(join(dirname(configPath), SERVER_PID_FILE), String(child.pid));

  // Ready means ngircd itself logged that it bound the port and a TCP connect succeeds: the log line
  // guards against a stranger listening on a port ngircd then fails to bind.
  const deadline = Date.now() + READY_DEADLINE_MS;
  while (Date.now() < deadline) {
    if (state.exitStatus !== null) {
      const output = thisLaunch.join("\n");
      const message = `ngircd ${state.exitStatus} before accepting connections on ${HOST}:${port}:\n${output}`;
      if (output.includes("Address already in use")) throw new PortInUseError(message);
      throw new Error(message, state.spawnError ? { cause: state.spawnError } : undefined);
    }
    if (listening && (await canConnect(port))) return { child, exited };
    await sleep(25);
  }
  child.kill("SIGKILL");
  await exited;
  throw new Error(`ngircd did not accept connections on ${HOST}:${port} within ${READY_DEADLINE_MS} ms:\n${thisLaunch.join("\n")}`);
}

class NgircdProcess implements NgircdServer {
  readonly host = HOST;
  private running: Running | null;

  constructor(
    private readonly binary: string,
    private readonly configPath: string,
    readonly port: number,
    readonly tlsPort: number | null,
    private readonly log: LineRing,
    running: Running,
  ) {
    this.running = running;
  }

  async stop(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.running = null;
    running.child.kill("SIGTERM");
    const timedOut = await Promise.race([running.exited.then(() => false), sleep(STOP_GRACE_MS).then(() => true)]);
    if (timedOut) {
      this.log.push(`--- ngircd ignored SIGTERM for ${STOP_GRACE_MS} ms, sending SIGKILL ---`);
      running.child.kill("SIGKILL");
      await running.exited;
    }
  }

  async kill(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.running = null;
    running.child.kill("SIGKILL");
    await running.exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    // ngircd sets SO_REUSEADDR, so the port is free at once even after SIGKILL; the retries cover
    // a client or port probe that grabbed it meanwhile.
    const deadline = Date.now() + READY_DEADLINE_MS;
    for (;;) {
      try {
        this.running = await launch(this.binary, this.configPath, this.port, this.log);
        return;
      } catch (err) {
        if (!(err instanceof PortInUseError) || Date.now() > deadline) throw err;
        await sleep(200);
      }
    }
  }

  logs(): string {
    return this.log.text();
  }
}

function splitLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void, prefix: string): void {
  if (!stream) return;
  stream.setEncoding("utf8");
  let rest = "";
  stream.on("data", (chunk: string) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) onLine(prefix + line);
  });
  stream.on("end", () => {
    if (rest) onLine(prefix + rest);
    rest = "";
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.setTimeout(1_000);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

/**
 * Kills servers a test forgot to stop (or could not, after a failure) when the process ends. vitest
 * ends its fork workers with SIGTERM, which skips "exit" handlers, so the usual signals are hooked too
 * and then re-raised (when nothing else listens) to die as the default action would.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanUp = (): void => {
    for (const child of liveChildren) child.kill("SIGKILL");
    liveChildren.clear();
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    tempDirs.clear();
  };
  process.on("exit", cleanUp);
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    process.once(signal, () => {
      cleanUp();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/**
 * Removes servers and dirs left by test processes that died without cleaning up (SIGKILL, OOM). A
 * pid is killed only if /proc shows it running ngircd with that dir's config, so a reused pid is safe.
 */
async function reapOrphans(): Promise<void> {
  const root = tmpdir();
  const names = await readdir(root).catch(() => []);
  for (const name of names) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(root, name);
    const owner = await readPid(join(dir, OWNER_PID_FILE));
    // No owner file yet: another process is creating this dir right now.
    if (owner === null || isAlive(owner)) continue;
    const server = await readPid(join(dir, SERVER_PID_FILE));
    if (server !== null && commandLine(server).includes(join(dir, CONFIG_FILE))) {
      try {
        process.kill(server, "SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

async function readPid(path: string): Promise<number | null> {
  try {
    const pid = Number.parseInt(await readFile(path, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return err instanceof Error && "code" in err && err.code === "EPERM";
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}
