// FakeChat: a ChatPort for unit tests. Records every line sent; drive methods deliver messages
// and change the connection and nick state.

import type { ChatPort, ChatStatus, IncomingMessage, OutgoingOptions, Sender } from "../../src/chat/port.js";
import { messageBudget } from "../../src/chat/format.js";

export interface SentLine {
  readonly target: string;
  readonly text: string;
  readonly notice: boolean;
  readonly kind: string | undefined;
}

export class FakeChat implements ChatPort {
  readonly name = "fake";
  readonly sent: SentLine[] = [];
  private readonly handlers: Array<(m: IncomingMessage) => void | Promise<void>> = [];
  connected = true;
  nick = "tugboat";
  primaryNick = "tugboat";
  started = false;

  async start(): Promise<void> {
    this.started = true;
  }

  async stop(): Promise<void> {
    this.started = false;
  }

  onMessage(handler: (msg: IncomingMessage) => void | Promise<void>): void {
    this.handlers.push(handler);
  }

  send(target: string, text: string, options: OutgoingOptions = {}): void {
    this.sent.push({ target, text, notice: options.notice ?? false, kind: options.kind });
  }

  budget(target: string, notice: boolean): number {
    return messageBudget({ nick: this.nick, user: "tugboat", host: null, command: notice ? "NOTICE" : "PRIVMSG", target });
  }

  isChannel(target: string): boolean {
    return /^[#&]/.test(target);
  }

  status(): ChatStatus {
    return { connected: this.connected, nick: this.nick, onPrimaryNick: this.nick === this.primaryNick, queueDepth: 0, linesDropped: 0 };
  }

  async drain(): Promise<boolean> {
    return true;
  }

  /** Drive: a user says something; resolves when every handler is done. */
  async deliver(target: string, text: string, sender: Partial<Sender> = {}, type: "privmsg" | "notice" = "privmsg"): Promise<void> {
    const msg: IncomingMessage = { type, target, text, sender: { nick: "alice", user: "alice", host: "ops.example.org", account: null, ...sender } };
    for (const h of this.handlers) await h(msg);
  }

  /** The texts sent, optionally to one target. */
  lines(target?: string): string[] {
    return this.sent.filter((l) => target === undefined || l.target === target).map((l) => l.text);
  }
}
