// A deliberately small raw-socket IRC client with which tests play the humans in a channel: it
// registers, answers PING, keeps every parsed line (with its size on the wire) and lets a test wait
// for a line from a marked position, so a reply that arrives before the test starts waiting is not lost.
// Independent of irc-framework on purpose: the bot's library must not check its own work.

import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface ParsedIrcMessage {
  /** The line as decoded from UTF-8, without CR LF. */
  readonly raw: string;
  readonly prefix: string | null;
  /** The nick part of a user prefix; null for a server prefix or none. */
  readonly nick: string | null;
  /** Upper-cased, e.g. "PRIVMSG" or "001". */
  readonly command: string;
  /** Middle params then the trailing one, which loses its ":". */
  readonly params: string[];
  /** IRCv3 message tags, values unescaped; a tag without a value maps to "". */
  readonly tags: Record<string, string>;
}

export interface ReceivedIrcMessage extends ParsedIrcMessage {
  /** Bytes on the wire including the line ending: the IRC limit is 512. */
  readonly bytes: number;
  /** Position in `messages`; `mark()` returns the position of the next message. */
  readonly index: number;
}

export type MessagePredicate = (msg: ReceivedIrcMessage) => boolean;

export interface WaitOptions {
  /**
   * First position to look at. Default: just after the last message a waitFor() matched, so
   * consecutive waits walk forward through the conversation.
   */
  readonly since?: number;
  readonly timeoutMs?: number;
}

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly nick: string;
  readonly user?: string;
  readonly realname?: string;
  /** Server password (PASS), sent before NICK. */
  readonly password?: string;
  /** Deadline for connecting and registering (default 10 s). */
  readonly timeoutMs?: number;
}

export interface IrcTestClient {
  /** The nick the server knows us by (tracks NICK changes). */
  readonly nick: string;
  /** Every line received since the socket opened, PINGs included. */
  readonly messages: readonly ReceivedIrcMessage[];
  /** Every line sent, without CR LF. */
  readonly sent: readonly string[];
  /** Resolves when the socket has closed (QUIT, server ERROR, server killed). */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  /** The position the next received message will have; pass it as `since` to a later waitFor(). */
  mark(): number;
  waitFor(predicate: MessagePredicate, options?: number | WaitOptions): Promise<ReceivedIrcMessage>;
  /** Resolves on the server's echo of our JOIN; rejects on a JOIN error numeric. */
  join(channel: string, timeoutMs?: number): Promise<ReceivedIrcMessage>;
  say(target: string, text: string): void;
  notice(target: string, text: string): void;
  /** Sends one line as typed; CR and LF are refused, the 512-byte limit is not (tests may probe it). */
  raw(line: string): void;
  /**
   * Sends several lines in a single write, as a flooding client's lines arrive together. ngircd
   * handles at most 3 commands per read and throttles the rest (unless MaxPenaltyTime = 0).
   */
  burst(lines: readonly string[]): void;
  /** Sends QUIT and waits (up to 2 s) for the server to close the connection. */
  quit(message?: string): Promise<void>;
  destroy(): void;
}

const DEFAULT_WAIT_MS = 5_000;
const DEFAULT_CONNECT_MS = 10_000;
const CONTEXT_LINES = 20;
/** Numerics that end registration without a 001. */
const REGISTRATION_ERRORS = new Set(["431", "432", "433", "436", "437", "462", "464", "465"]);
/** Numerics a server answers a refused JOIN with; the channel is params[1]. */
const JOIN_ERRORS = new Set(["403", "405", "437", "471", "473", "474", "475", "476", "477", "479"]);

export async function connectClient(opts: ConnectOptions): Promise<IrcTestClient> {
  const socket = connect({ host: opts.host, port: opts.port });
  const client = new RawIrcClient(socket, opts.nick, `${opts.host}:${opts.port}`);
  // Written before the socket connects: node queues them, and a refused connect rejects the wait below.
  if (opts.password !== undefined) client.raw(`PASS ${opts.password}`);
  client.raw(`NICK ${opts.nick}`);
  client.raw(`USER ${opts.user ?? opts.nick} 0 * :${opts.realname ?? `tugboat test user ${opts.nick}`}`);
  try {
    const reply = await client.waitFor((m) => m.command === "001" || m.command === "ERROR" || REGISTRATION_ERRORS.has(m.command), {
      since: 0,
      timeoutMs: opts.timeoutMs ?? DEFAULT_CONNECT_MS,
    });
    if (reply.command !== "001") throw new Error(`registration as ${opts.nick} refused: ${reply.raw}`);
    return client;
  } catch (err) {
    client.destroy();
    throw err;
  }
}

interface Waiter {
  readonly predicate: MessagePredicate;
  readonly since: number;
  readonly resolve: (msg: ReceivedIrcMessage) => void;
  readonly reject: (err: Error) => void;
}

class RawIrcClient implements IrcTestClient {
  readonly messages: ReceivedIrcMessage[] = [];
  readonly sent: string[] = [];
  readonly closed: Promise<void>;
  private currentNick: string;
  private cursor = 0;
  private pending: Buffer = Buffer.alloc(0);
  private readonly waiters = new Set<Waiter>();
  private closedFlag = false;
  private socketError: Error | null = null;

  constructor(
    private readonly socket: Socket,
    nick: string,
    private readonly address: string,
  ) {
    this.currentNick = nick;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => {
      this.socketError = err;
    });
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        this.closedFlag = true;
        const reason = this.socketError ? `connection to ${this.address} failed: ${this.socketError.message}` : "connection closed";
        for (const waiter of this.waiters) waiter.reject(this.failure(`${reason} while waiting`, waiter));
        this.waiters.clear();
        resolve();
      });
    });
  }

  get nick(): string {
    return this.currentNick;
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  mark(): number {
    return this.messages.length;
  }

  waitFor(predicate: MessagePredicate, options: number | WaitOptions = {}): Promise<ReceivedIrcMessage> {
    const opts: WaitOptions = typeof options === "number" ? { timeoutMs: options } : options;
    const since = opts.since ?? this.cursor;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
    return new Promise<ReceivedIrcMessage>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        predicate,
        since,
        resolve: (msg) => {
          clearTimeout(timer);
          this.cursor = Math.max(this.cursor, msg.index + 1);
          resolve(msg);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      // Lines that arrived before this call are checked first: that is what makes mark() race-free.
      for (let i = Math.max(0, since); i < this.messages.length; i++) {
        const msg = this.messages[i];
        if (msg && this.matches(waiter, msg)) return;
      }
      if (this.closedFlag) {
        waiter.reject(this.failure("connection already closed", waiter));
        return;
      }
      this.waiters.add(waiter);
      timer = setTimeout(() => {
        this.waiters.delete(waiter);
        waiter.reject(this.failure(`timed out after ${timeoutMs} ms`, waiter));
      }, timeoutMs);
    });
  }

  async join(channel: string, timeoutMs = DEFAULT_WAIT_MS): Promise<ReceivedIrcMessage> {
    const since = this.mark();
    this.raw(`JOIN ${channel}`);
    const reply = await this.waitFor(
      (m) =>
        (m.command === "JOIN" && sameName(m.nick, this.currentNick) && sameName(m.params[0], channel)) ||
        (JOIN_ERRORS.has(m.command) && sameName(m.params[1], channel)),
      { since, timeoutMs },
    );
    if (reply.command !== "JOIN") throw new Error(`${this.currentNick} could not join ${channel}: ${reply.raw}`);
    return reply;
  }

  say(target: string, text: string): void {
    this.raw(`PRIVMSG ${target} :${text}`);
  }

  notice(target: string, text: string): void {
    this.raw(`NOTICE ${target} :${text}`);
  }

  raw(line: string): void {
    this.burst([line]);
  }

  burst(lines: readonly string[]): void {
    for (const line of lines) {
      if (/[\r\n]/.test(line)) throw new Error(`refusing to send a line containing CR or LF: ${JSON.stringify(line)}`);
    }
    if (this.closedFlag) throw new Error(`${this.currentNick}: cannot send ${JSON.stringify(lines[0])}, the connection is closed`);
    this.sent.push(...lines);
    this.socket.write(lines.map((line) => `${line}\r\n`).join(""));
  }

  async quit(message = "bye"): Promise<void> {
    if (this.closedFlag) return;
    this.raw(`QUIT :${message}`);
    await Promise.race([this.closed, sleep(2_000)]);
    this.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (let end = this.pending.indexOf(0x0a); end !== -1; end = this.pending.indexOf(0x0a)) {
      const bytes = end + 1;
      // IRC lines end in CR LF, but a bare LF is accepted as servers and clients commonly do.
      const lineEnd = end > 0 && this.pending[end - 1] === 0x0d ? end - 1 : end;
      const text = this.pending.subarray(0, lineEnd).toString("utf8");
      this.pending = this.pending.subarray(bytes);
      if (text.length > 0) this.receive(text, bytes);
    }
  }

  private receive(line: string, bytes: number): void {
    const msg: ReceivedIrcMessage = { ...parseIrcLine(line), bytes, index: this.messages.length };
    this.messages.push(msg);
    if (msg.command === "PING") this.socket.write(`PONG :${msg.params[0] ?? ""}\r\n`);
    if (msg.command === "NICK" && sameName(msg.nick, this.currentNick) && msg.params[0]) this.currentNick = msg.params[0];
    if (msg.command === "001" && msg.params[0]) this.currentNick = msg.params[0];
    for (const waiter of [...this.waiters]) {
      if (msg.index >= waiter.since && this.matches(waiter, msg)) this.waiters.delete(waiter);
    }
  }

  /** Runs the predicate; settles the waiter (true) on a match or when the predicate throws. */
  private matches(waiter: Waiter, msg: ReceivedIrcMessage): boolean {
    let matched: boolean;
    try {
      matched = waiter.predicate(msg);
    } catch (err) {
      waiter.reject(err instanceof Error ? err : new Error(String(err)));
      return true;
    }
    if (matched) waiter.resolve(msg);
    return matched;
  }

  private failure(what: string, waiter: Waiter): Error {
    const recent = this.messages.slice(-CONTEXT_LINES).map((m) => `  #${m.index} ${m.raw}`);
    const predicate = waiter.predicate.toString().replace(/\s+/g, " ").slice(0, 200);
    return new Error(
      `${this.currentNick}@${this.address}: waitFor ${what} (since #${waiter.since}, predicate ${predicate})\n` +
        `last ${recent.length} lines received:\n${recent.join("\n") || "  (none)"}`,
    );
  }
}

/** Parses one IRC line (without CR LF): optional @tags, optional :prefix, command, params. */
export function parseIrcLine(raw: string): ParsedIrcMessage {
  let pos = 0;
  const skipSpaces = (): void => {
    while (raw[pos] === " ") pos++;
  };
  const word = (): string => {
    const end = raw.indexOf(" ", pos);
    const w = end === -1 ? raw.slice(pos) : raw.slice(pos, end);
    pos = end === -1 ? raw.length : end;
    return w;
  };

  let tags: Record<string, string> = {};
  if (raw.startsWith("@")) {
    pos = 1;
    // fromEntries defines own properties, so a "__proto__" tag cannot reach the prototype.
    tags = Object.fromEntries(
      word()
        .split(";")
        .filter((part) => part.length > 0)
        .map((part) => {
          const eq = part.indexOf("=");
          return eq === -1 ? [part, ""] : [part.slice(0, eq), unescapeTagValue(part.slice(eq + 1))];
        }),
    );
    skipSpaces();
  }

  let prefix: string | null = null;
  if (raw[pos] === ":") {
    pos++;
    prefix = word();
    skipSpaces();
  }

  const command = word().toUpperCase();
  const params: string[] = [];
  for (;;) {
    skipSpaces();
    if (pos >= raw.length) break;
    if (raw[pos] === ":") {
      params.push(raw.slice(pos + 1));
      break;
    }
    params.push(word());
  }
  return { raw, prefix, nick: nickOf(prefix), command, params, tags };
}

function nickOf(prefix: string | null): string | null {
  if (prefix === null) return null;
  const end = prefix.search(/[!@]/);
  if (end !== -1) return prefix.slice(0, end);
  // A bare prefix is a server name (which has a dot) or a nick (which cannot).
  return prefix.includes(".") ? null : prefix;
}

const TAG_ESCAPES: Record<string, string> = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

function unescapeTagValue(value: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] ?? "";
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    i++;
    const next = value[i];
    // A trailing lone backslash is dropped; an unknown escape stands for the character itself.
    if (next !== undefined) out += TAG_ESCAPES[next] ?? next;
  }
  return out;
}

/** IRC names compare case-insensitively (ngircd announces CASEMAPPING=ascii). */
function sameName(a: string | null | undefined, b: string): boolean {
  return a !== null && a !== undefined && a.toLowerCase() === b.toLowerCase();
}
