// ChatPort over IRC with irc-framework, supervised: reconnect forever with backoff and jitter,
// regain the primary nick, NickServ fallback, and every line through the paced OutboundQueue
// (irc-framework itself writes at once and drops lines written while disconnected).

import { Client, type MessageEvent } from "irc-framework";
import type { Logger } from "pino";
import type { IrcConfig } from "../config/schema.js";
import { ircLower } from "./acl.js";
import { messageBudget, splitMessage } from "./format.js";
import { OutboundQueue, type OutboundLine } from "./outbound-queue.js";
import type { ChatPort, ChatStatus, IncomingMessage, OutgoingOptions } from "./port.js";
import { realClock } from "../clock.js";

export interface IrcSecrets {
  readonly password: string | null;
  readonly saslPassword: string | null;
  readonly nickservPassword: string | null;
}

export interface IrcChatEvents {
  onConnectedChange?(connected: boolean): void;
  onReconnect?(): void;
  onDrop?(line: OutboundLine): void;
}

export class IrcFrameworkChat implements ChatPort {
  readonly name = "irc";
  private readonly client = new Client();
  private readonly queue: OutboundQueue;
  private readonly handlers: Array<(m: IncomingMessage) => void> = [];
  private registered = false;
  private stopping = false;
  private attempts = 0;
  private registeredAt = 0;
  private ownHost: string | null = null;
  private ownUser: string;
  private altIndex = 0;
  private loggedIn = false;
  private timers = new Set<NodeJS.Timeout>();
  private regainTimer: NodeJS.Timeout | undefined;
  private pendingJoins = new Set<string>();

  constructor(
    private readonly config: IrcConfig,
    private readonly secrets: IrcSecrets,
    private readonly log: Logger,
    private readonly events: IrcChatEvents = {},
  ) {
    this.ownUser = config.username;
    this.nick = config.nick;
    this.queue = new OutboundQueue({
      burst: config.flood.burst,
      intervalMs: config.flood.intervalMs,
      lifetimeMs: config.lineLifetimeSec * 1000,
      maxBacklogPerKind: 3,
      bulkKinds: ["sal"],
      // An alert line stands for notifications the store has settled as announced: it waits out any
      // outage (the announcer queues a few at a time) and is coalesced on reconnect.
      keepKinds: ["alert"],
      clock: realClock,
      summarize: (target, kind, lines) => this.summarize(target, kind, lines),
      // irc-framework silently drops a line written after its socket closed: say so instead.
      write: (line) => {
        if (!this.client.connection.connected) return false;
        this.client.raw(line.notice ? "NOTICE" : "PRIVMSG", line.target, line.text);
        return true;
      },
      onDrop: (line) => {
        this.log.warn({ target: line.target, kind: line.kind }, "outbound line expired while disconnected");
        this.events.onDrop?.(line);
      },
    });
    this.wire();
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Our nick as the server knows it (irc-framework updates its own copy after our handlers run). */
  private nick: string;

  private wire(): void {
    const c = this.client;
    c.on("registered", (e: { nick: string }) => {
      this.nick = e.nick;
      this.registered = true;
      this.registeredAt = Date.now();
      this.log.info({ nick: this.nick, server: `${this.config.host}:${this.config.port}` }, "registered on IRC");
      this.identifyWithNickServ();
      this.pendingJoins = new Set(this.config.channels.map(ircLower));
      for (const ch of this.config.channels) c.join(ch);
      // Lines wait for the joins (a +n channel refuses them before); a refused join must not hold them forever.
      this.later(5000, () => this.markReady());
      this.scheduleRegain();
    });
    c.on("loggedin", () => {
      this.loggedIn = true;
    });
    c.on("sasl failed", (e: { reason: string }) => this.log.warn({ reason: e.reason }, "SASL did not log us in"));
    c.on("join", (e: { nick: string; ident: string; hostname: string; channel: string }) => {
      if (ircLower(e.nick) !== ircLower(this.nick)) return;
      this.ownUser = e.ident;
      this.ownHost = e.hostname;
      this.pendingJoins.delete(ircLower(e.channel));
      if (this.pendingJoins.size === 0) this.markReady();
    });
    c.on("nick in use", () => {
      if (this.registered) return; // a failed attempt to regain the primary nick
      const next = this.config.altNicks[this.altIndex++] ?? `${this.config.nick.slice(0, 28)}_${this.altIndex}`;
      this.log.warn({ nick: next }, "nick in use, taking an alternate");
      c.changeNick(next);
    });
    c.on("nick", (e: { nick: string; new_nick: string }) => {
      if (ircLower(e.nick) === ircLower(this.nick)) {
        this.nick = e.new_nick;
        this.log.info({ nick: e.new_nick }, "nick changed");
        return;
      }
      if (ircLower(e.nick) === ircLower(this.config.nick) && ircLower(e.new_nick) !== ircLower(this.config.nick)) this.regainSoon();
    });
    c.on("quit", (e: { nick: string }) => {
      if (ircLower(e.nick) === ircLower(this.config.nick)) this.regainSoon();
    });
    c.on("privmsg", (e: MessageEvent) => this.deliver("privmsg", e));
    c.on("notice", (e: MessageEvent) => {
      if (!e.from_server) this.deliver("notice", e);
    });
    c.on("socket error", (err: Error) => this.log.warn({ err: err.message }, "IRC socket error"));
    c.on("close", () => this.onClosed());
  }

  private deliver(type: "privmsg" | "notice", e: MessageEvent): void {
    const msg: IncomingMessage = {
      type,
      sender: { nick: e.nick, user: e.ident, host: e.hostname, account: typeof e.account === "string" ? e.account : null },
      target: e.target,
      text: e.message,
    };
    for (const h of this.handlers) h(msg);
  }

  /**
   * NickServ IDENTIFY when SASL did not log us in (not configured, not offered by the server, or
   * refused): with the nickserv credentials, else the SASL ones.
   */
  private identifyWithNickServ(): void {
    if (this.loggedIn) return;
    const password = this.secrets.nickservPassword ?? this.secrets.saslPassword;
    if (!password) return;
    const account = this.config.nickserv?.account ?? this.config.sasl?.account;
    const service = this.config.nickserv?.service ?? "NickServ";
    this.log.info({ service, account, sasl: Boolean(this.secrets.saslPassword) }, "identifying with NickServ");
    this.client.raw("PRIVMSG", service, `IDENTIFY ${account ? `${account} ` : ""}${password}`);
  }

  /** One line standing for many queued during an outage: never a backlog dump. */
  private summarize(target: string, kind: string, lines: OutboundLine[]): OutboundLine {
    const last = lines.at(-1)!;
    const n = lines.reduce((sum, l) => sum + (l.count ?? 1), 0);
    // A summary of summaries keeps only the newest entry's text.
    const latest = last.text.replace(/^\d+ SAL entries logged; the latest: /, "");
    const what =
      kind === "sal" ? `${n} SAL entries logged; the latest`
      : kind === "alert" ? `${n} alert announcements were held while I was disconnected; the last`
      : `${n} messages were queued while I was disconnected; the last`;
    const budget = this.budget(target, last.notice);
    const pieces = splitMessage(`${what}: ${kind === "sal" ? latest : last.text}`, budget - 3);
    return { target, kind, notice: last.notice, text: pieces.length > 1 ? `${pieces[0]}…` : (pieces[0] ?? what) };
  }

  private markReady(): void {
    if (!this.registered || this.queueReady) return;
    this.queueReady = true;
    this.queue.setConnected(true);
    this.events.onConnectedChange?.(true);
  }
  private queueReady = false;

  private onClosed(): void {
    const wasRegistered = this.registered;
    this.registered = false;
    this.loggedIn = false;
    if (this.queueReady) {
      this.queueReady = false;
      this.queue.setConnected(false);
      this.events.onConnectedChange?.(false);
    }
    clearTimeout(this.regainTimer);
    if (this.stopping) return;
    if (wasRegistered && Date.now() - this.registeredAt >= this.config.reconnect.stableAfterMs) this.attempts = 0;
    const { minDelayMs, maxDelayMs } = this.config.reconnect;
    const base = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(this.attempts, 20));
    const delay = Math.round(base / 2 + Math.random() * (base / 2)); // jitter: copies of many bots don't reconnect in step
    this.attempts++;
    this.log.warn({ attempt: this.attempts, delayMs: delay }, "IRC connection closed; reconnecting");
    this.later(delay, () => this.connect());
  }

  private connect(): void {
    if (this.stopping) return;
    this.altIndex = 0;
    this.nick = this.config.nick;
    this.events.onReconnect?.();
    this.client.connect({
      host: this.config.host,
      port: this.config.port,
      tls: this.config.tls,
      rejectUnauthorized: this.config.tlsVerify,
      ...(this.secrets.password ? { password: this.secrets.password } : {}),
      nick: this.config.nick,
      username: this.config.username,
      gecos: this.config.realname,
      // An empty account object stops irc-framework from sending the server password as SASL.
      account: this.secrets.saslPassword ? { account: this.config.sasl!.account, password: this.secrets.saslPassword } : {},
      auto_reconnect: false, // supervised here: irc-framework gives up after 3 tries
      ping_interval: 30,
      ping_timeout: 90,
      message_max_length: 510,
      version: "tugboat",
    });
    const attempt = this.attempts;
    this.later(this.config.connectTimeoutMs, () => {
      if (!this.registered && !this.stopping && attempt === this.attempts) {
        this.log.warn({ ms: this.config.connectTimeoutMs }, "IRC registration timed out");
        this.client.connection.end();
      }
    });
  }

  private scheduleRegain(): void {
    clearTimeout(this.regainTimer);
    if (ircLower(this.nick) === ircLower(this.config.nick)) return;
    this.regainTimer = setTimeout(() => {
      if (this.registered && ircLower(this.nick) !== ircLower(this.config.nick)) this.client.changeNick(this.config.nick);
      this.scheduleRegain();
    }, this.config.regainNickEveryMs);
  }

  private regainSoon(): void {
    if (this.registered && ircLower(this.nick) !== ircLower(this.config.nick)) this.client.changeNick(this.config.nick);
  }

  async start(): Promise<void> {
    this.connect();
  }

  async stop(reason = "shutting down"): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    clearTimeout(this.regainTimer);
    if (this.registered) await this.queue.drain(3000);
    this.queue.close();
    if (this.client.connection.connected) this.client.quit(reason);
    await new Promise((r) => setTimeout(r, 100));
  }

  onMessage(handler: (msg: IncomingMessage) => void): void {
    this.handlers.push(handler);
  }

  send(target: string, text: string, options: OutgoingOptions = {}): void {
    if (this.stopping) {
      this.log.warn({ target, text }, "line not sent: the bot is shutting down");
      return;
    }
    this.queue.enqueue({ target, text, notice: options.notice ?? false, ...(options.kind ? { kind: options.kind } : {}) });
  }

  budget(target: string, notice: boolean): number {
    return messageBudget({ nick: this.nick, user: this.ownUser, host: this.ownHost, command: notice ? "NOTICE" : "PRIVMSG", target });
  }

  isChannel(target: string): boolean {
    return /^[#&+!]/.test(target);
  }

  status(): ChatStatus {
    return {
      connected: this.queueReady,
      nick: this.nick,
      onPrimaryNick: ircLower(this.nick) === ircLower(this.config.nick),
      queueDepth: this.queue.depth,
      linesDropped: this.queue.dropped,
    };
  }

  drain(timeoutMs: number): Promise<boolean> {
    return this.queue.drain(timeoutMs);
  }
}
