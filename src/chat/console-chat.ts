// ChatPort on a terminal: type `!log ...` exactly as in IRC and read the bot's replies.
// Reads piped input too (a script can drive it): lines are handled one after another, and end of
// input ends the session once every reply is out.

import { createInterface, type Interface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { ChatPort, ChatStatus, IncomingMessage, OutgoingOptions } from "./port.js";
import { messageBudget } from "./format.js";

export interface ConsoleOptions {
  readonly input: Readable;
  readonly output: Writable;
  readonly botNick: string;
  readonly userNick: string;
  readonly channel: string;
  /** Show a prompt (a terminal); off for piped input. */
  readonly interactive: boolean;
  /** Called at end of input, after every line typed so far has been handled. */
  readonly onEnd: () => void;
}

export class ConsoleChat implements ChatPort {
  readonly name = "console";
  private readonly handlers: Array<(m: IncomingMessage) => void | Promise<void>> = [];
  private rl: Interface | undefined;
  private sent = 0;

  constructor(private readonly o: ConsoleOptions) {}

  async start(): Promise<void> {
    const rl = createInterface({ input: this.o.input, output: this.o.interactive ? this.o.output : undefined, terminal: this.o.interactive });
    this.rl = rl;
    rl.setPrompt(`${this.o.channel} <${this.o.userNick}> `);
    let chain = Promise.resolve();
    rl.on("line", (line) => {
      chain = chain.then(() => this.handleLine(line)).then(() => {
        if (this.o.interactive) rl.prompt();
      });
    });
    rl.on("close", () => void chain.then(() => this.o.onEnd()));
    if (this.o.interactive) {
      this.o.output.write(`tugboat console: you are ${this.o.userNick} in ${this.o.channel}. Try "!log restarted memcached on mc1004 (T1234)" or "!help"; /msg ${this.o.botNick} TEXT for a private message; Ctrl-D quits.\n`);
      rl.prompt();
    }
  }

  private async handleLine(line: string): Promise<void> {
    const text = line.trim();
    if (text === "") return;
    let target = this.o.channel;
    let body = text;
    const pm = /^\/msg\s+(\S+)\s+(.*)$/i.exec(text);
    if (pm) [target, body] = [pm[1]!, pm[2]!];
    const msg: IncomingMessage = {
      type: "privmsg",
      sender: { nick: this.o.userNick, user: "console", host: "localhost", account: this.o.userNick },
      target,
      text: body,
    };
    for (const h of this.handlers) await h(msg);
  }

  async stop(): Promise<void> {
    this.rl?.close();
  }

  onMessage(handler: (msg: IncomingMessage) => void | Promise<void>): void {
    this.handlers.push(handler);
  }

  send(target: string, text: string, options: OutgoingOptions = {}): void {
    this.sent++;
    const from = options.notice ? `-${this.o.botNick}-` : `<${this.o.botNick}>`;
    const where = this.isChannel(target) ? target : `(private to ${target})`;
    if (this.o.interactive) this.o.output.write("\r\x1b[K");
    this.o.output.write(`${where} ${from} ${text}\n`);
    if (this.o.interactive) this.rl?.prompt(true);
  }

  budget(target: string, notice: boolean): number {
    // Same budget as on IRC, so what you see here is what a channel would see.
    return messageBudget({ nick: this.o.botNick, user: "tugboat", host: null, command: notice ? "NOTICE" : "PRIVMSG", target });
  }

  isChannel(target: string): boolean {
    return /^[#&]/.test(target);
  }

  status(): ChatStatus {
    return { connected: true, nick: this.o.botNick, onPrimaryNick: true, queueDepth: 0, linesDropped: 0 };
  }

  async drain(): Promise<boolean> {
    return true;
  }
}
