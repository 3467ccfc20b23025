// RemoteShell over SSH with ssh2: one connection per host, reused; host keys pinned from known_hosts;
// a limit on handshakes in flight (OpenSSH's MaxStartups refuses past ~10 per server, and classic DH
// at scale burns CPU: curve25519 only); deadlines for handshake, keepalive and each command.

import { Client, type ClientChannel, type ConnectConfig } from "ssh2";
import { KnownHosts } from "./known-hosts.js";
import { HostFailure, type ExecRequest, type ExecResult, type Host, type RemoteShell } from "./remote-shell.js";
import { Semaphore } from "./semaphore.js";

export interface Ssh2Options {
  readonly knownHosts: KnownHosts;
  readonly privateKey: Buffer | null;
  /** ssh-agent socket, used when no private key is given. */
  readonly agent: string | null;
  readonly handshakeTimeoutMs: number;
  readonly keepaliveIntervalMs: number;
  readonly keepaliveCountMax: number;
  readonly maxHandshakes: number;
}

const STDOUT_LIMIT = 1 << 20;
/** How long a host has to confirm that a command stopped at its deadline was killed. */
const KILL_GRACE_MS = 3000;
const STDERR_TAIL = 4096;

interface Connection {
  readonly client: Client;
  readonly ready: Promise<Client>;
  /** The handshake completed. */
  up: boolean;
  closed: boolean;
}

export class Ssh2Shell implements RemoteShell {
  private readonly connections = new Map<string, Connection>();
  private readonly handshakes: Semaphore;
  private made = 0;

  constructor(private readonly o: Ssh2Options) {
    this.handshakes = new Semaphore(o.maxHandshakes);
  }

  private key(host: Host): string {
    return `${host.user}@${host.address}:${host.port}`;
  }

  async connect(host: Host): Promise<void> {
    await this.open(host);
  }

  connectionStats(): { open: number; made: number } {
    let open = 0;
    for (const c of this.connections.values()) if (c.up && !c.closed) open++;
    return { open, made: this.made };
  }

  private open(host: Host): Promise<Client> {
    const existing = this.connections.get(this.key(host));
    if (existing && !existing.closed) return existing.ready;
    const client = new Client();
    let verdict: "match" | "unknown" | "mismatch" = "match";
    const config: ConnectConfig = {
      host: host.address,
      port: host.port,
      username: host.user,
      readyTimeout: this.o.handshakeTimeoutMs,
      keepaliveInterval: this.o.keepaliveIntervalMs,
      keepaliveCountMax: this.o.keepaliveCountMax,
      algorithms: { kex: ["curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256"] },
      hostVerifier: (key: Buffer) => {
        verdict = this.o.knownHosts.verify(host.address, host.port, key);
        return verdict === "match";
      },
      ...(this.o.privateKey ? { privateKey: this.o.privateKey } : this.o.agent ? { agent: this.o.agent } : {}),
    };
    const conn: Connection = {
      client,
      up: false,
      closed: false,
      ready: this.handshakes.run(
        () =>
          new Promise<Client>((resolve, reject) => {
            client.once("ready", () => {
              this.made++;
              conn.up = true;
              resolve(client);
            });
            client.once("error", (err: Error & { level?: string; code?: string }) => reject(this.describe(host, err, verdict)));
            client.once("close", () => reject(new HostFailure(host.name, "unreachable", "connection closed during the handshake")));
            client.connect(config);
          }),
      ),
    };
    const forget = () => {
      conn.closed = true;
      if (this.connections.get(this.key(host)) === conn) this.connections.delete(this.key(host));
    };
    client.on("close", forget);
    client.on("error", forget);
    conn.ready.catch(forget);
    this.connections.set(this.key(host), conn);
    return conn.ready;
  }

  /** Why the connection could not be made; these failures happen before any command ran (step "connect"). */
  private describe(host: Host, err: Error & { level?: string; code?: string }, verdict: string): HostFailure {
    const f = this.cause(host, err, verdict);
    return new HostFailure(host.name, f.kind, f.message.replace(`${host.name}: `, ""), { step: "connect" });
  }

  private cause(host: Host, err: Error & { level?: string; code?: string }, verdict: string): HostFailure {
    const where = `${host.address}:${host.port}`;
    if (verdict === "unknown") return new HostFailure(host.name, "hostkey", `host key of ${where} is not in known_hosts: refusing it`);
    if (verdict === "mismatch") return new HostFailure(host.name, "hostkey", `host key of ${where} does not match known_hosts: refusing it (changed key or a different server)`);
    if (err.code === "ECONNREFUSED") return new HostFailure(host.name, "unreachable", `connection refused by ${where}`);
    if (err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH" || err.code === "EADDRNOTAVAIL") return new HostFailure(host.name, "unreachable", `no route to ${where} (${err.code})`);
    if (err.code === "ECONNRESET") return new HostFailure(host.name, "unreachable", `connection reset by ${where}`);
    if (err.level === "client-timeout" || /timed out/i.test(err.message)) return new HostFailure(host.name, "timeout", `no SSH handshake with ${where} within ${this.o.handshakeTimeoutMs} ms`);
    if (err.level === "client-authentication") return new HostFailure(host.name, "auth", `${where} refused our key for user ${host.user}`);
    return new HostFailure(host.name, "unreachable", `${where}: ${err.message}`);
  }

  /**
   * Runs the command over the host's open connection, or a new one. A connection kept from earlier
   * (the warm path that makes a rollback one channel a host) may have died since without keepalive
   * noticing yet (the host rebooted, say): when it cannot even open a channel, it is dropped and the
   * command goes over a fresh connection, once. A command that started is never run twice.
   */
  async exec(host: Host, req: ExecRequest): Promise<ExecResult> {
    const reused = this.connections.has(this.key(host));
    try {
      return await this.execOnce(host, req);
    } catch (e) {
      if (!reused || !(e instanceof NotStarted) || req.signal?.aborted) throw e instanceof NotStarted ? e.failure : e;
      this.drop(host);
      return this.execOnce(host, req).catch((e2: unknown) => {
        throw e2 instanceof NotStarted ? e2.failure : e2;
      });
    }
  }

  private async execOnce(host: Host, req: ExecRequest): Promise<ExecResult> {
    const client = await this.open(host);
    return new Promise<ExecResult>((resolve, reject) => {
      let stdout = "";
      let stderr = "";
      let code: number | null = null;
      let signal: string | undefined;
      let settled = false;
      let channel: ClientChannel | undefined;
      let killing: "deadline" | "abort" | null = null;
      let grace: NodeJS.Timeout | undefined;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(grace);
        req.signal?.removeEventListener("abort", onAbort);
        client.removeListener("close", onDrop);
        fn();
      };
      const stopped = (killed: boolean) =>
        killing === "abort"
          ? new HostFailure(host.name, "timeout", "aborted", { killed, stdout, stderr })
          : new HostFailure(host.name, "timeout", `no result within ${req.timeoutMs} ms (${killed ? "killed on the host" : "the host did not confirm it was killed"})`, { killed, stdout, stderr });
      // At the deadline the command is killed on the host: an SSH "signal" request, which OpenSSH's sshd
      // answers by killing the session's process group (a hung restart's children too). The channel then
      // closes with exit-signal KILL. A host that does not confirm within KILL_GRACE_MS is dropped.
      const kill = (why: "deadline" | "abort") => {
        if (killing) return;
        killing = why;
        if (!channel) {
          this.drop(host);
          return finish(() => reject(stopped(false)));
        }
        signalChannel(channel, "KILL");
        grace = setTimeout(() => {
          this.drop(host);
          finish(() => reject(stopped(false)));
        }, KILL_GRACE_MS);
      };
      const timer = setTimeout(() => kill("deadline"), req.timeoutMs);
      const onAbort = () => kill("abort");
      const onDrop = () =>
        finish(() => reject(channel ? new HostFailure(host.name, "protocol", "the connection dropped while the command ran") : new NotStarted(new HostFailure(host.name, "protocol", "the connection dropped before the command started"))));
      req.signal?.addEventListener("abort", onAbort, { once: true });
      client.once("close", onDrop);
      client.exec(req.command, (err, stream) => {
        if (err) return finish(() => reject(new NotStarted(new HostFailure(host.name, "protocol", `could not start the command: ${err.message}`))));
        channel = stream;
        if (killing) signalChannel(stream, "KILL");
        const decoder = new TextDecoder();
        stream.on("data", (d: Buffer) => {
          const text = decoder.decode(d, { stream: true });
          if (stdout.length < STDOUT_LIMIT) stdout += text;
          req.onStdout?.(text);
        });
        stream.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString("utf8")).slice(-STDERR_TAIL)));
        stream.on("exit", (c: number | null, s?: string) => {
          code = c;
          signal = s;
        });
        stream.on("close", () =>
          finish(() => {
            if (killing) reject(stopped(signal === "SIGKILL" || signal === "KILL" || code !== null));
            else if (code === null) reject(new HostFailure(host.name, "protocol", `the command ended without an exit status${signal ? ` (signal ${signal})` : ""}`));
            else resolve({ code, stdout, stderr, bytesSent: req.stdin?.length ?? 0 });
          }),
        );
        stream.end(req.stdin ?? Buffer.alloc(0));
      });
    });
  }

  private drop(host: Host): void {
    const conn = this.connections.get(this.key(host));
    if (!conn) return;
    this.connections.delete(this.key(host));
    conn.closed = true;
    conn.client.destroy();
  }

  async close(host?: Host): Promise<void> {
    const conns = host ? [this.connections.get(this.key(host))].filter((c): c is Connection => c !== undefined) : [...this.connections.values()];
    for (const c of conns) {
      c.closed = true;
      // A handshake still under way (a host that accepts TCP and never answers) is cut, not ended
      // politely: end() would wait for a FIN the host never sends, until the handshake's timeout.
      if (c.up) c.client.end();
      else c.client.destroy();
    }
    if (host) this.connections.delete(this.key(host));
    else this.connections.clear();
  }
}

/** A command that never reached the host (no channel opened): safe to try again on a new connection. */
class NotStarted extends Error {
  constructor(readonly failure: HostFailure) {
    super(failure.message);
  }
}

/**
 * Sends an SSH "signal" channel request. ssh2's ClientChannel.signal() sends nothing once our side
 * has sent EOF (it checks `writable`), but the protocol allows the request until the channel closes
 * (RFC 4254 6.9: EOF ends the data, not the channel), and every command's stdin is ended at once.
 * So the request goes through the connection's protocol object, with the channel's remote id.
 * test/integration/engine-ssh.test.ts proves on real sshd that a hung restart and its child are gone.
 */
function signalChannel(channel: ClientChannel, name: "KILL" | "TERM"): void {
  const ch = channel as unknown as { outgoing?: { id?: number; state?: string }; _client?: { _protocol?: { signal(id: number, name: string): void } } };
  const id = ch.outgoing?.id;
  const protocol = ch._client?._protocol;
  if (id === undefined || (ch.outgoing?.state !== "open" && ch.outgoing?.state !== "eof") || !protocol) return;
  protocol.signal(id, name);
}
