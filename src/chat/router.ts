// The router: parse -> resolve -> permit -> validate -> run (with a deadline) -> reply.
// No command error reaches the chat event loop; every refusal and failure is logged.

import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { RemoteError, UserError } from "../errors.js";
import type { Acl } from "./acl.js";
import { ircLower, maskMatches } from "./acl.js";
import type { Command, Reply, Services } from "./command.js";
import { capLines, splitMessage, stripFormatting } from "./format.js";
import { maskOf, type ChatPort, type IncomingMessage } from "./port.js";

export interface ParsedCommand {
  readonly name: string;
  readonly args: string;
}

/** `!cmd args`, `BOTNICK: cmd args` / `BOTNICK, cmd args`, and in private also bare `cmd args`. */
export function parseCommandLine(text: string, botNick: string, isPrivate: boolean): ParsedCommand | null {
  const clean = stripFormatting(text).trim();
  let rest: string | null = null;
  if (clean.startsWith("!")) rest = clean.slice(1);
  else {
    const addressed = /^(\S+?)[:,]\s+(.*)$/s.exec(clean);
    if (addressed && ircLower(addressed[1]!) === ircLower(botNick)) rest = addressed[2]!;
    else if (isPrivate) rest = clean;
  }
  if (rest === null) return null;
  const m = /^([A-Za-z][\w-]{0,31})(?:\s+(.*))?$/s.exec(rest);
  if (!m) return null;
  return { name: m[1]!.toLowerCase(), args: (m[2] ?? "").trim() };
}

export type Outcome = "ok" | "refused" | "user_error" | "remote_error" | "error" | "timeout";

export interface RouterDeps {
  readonly chat: ChatPort;
  readonly commands: readonly Command[];
  readonly services: Services;
  readonly acl: Acl;
  readonly log: Logger;
  /** Channels the bot listens to commands in (others are ignored). */
  readonly channels: readonly string[];
  /** Masks of other bots: never answered. */
  readonly ignore: readonly string[];
  readonly timeoutMs: number;
  readonly maxLinesPerReply: number;
  /** Keeps a capped reply whole and returns the link to it. */
  readonly keepReply: (lines: readonly string[]) => string;
  readonly onOutcome: (command: string, outcome: Outcome) => void;
}

class Timeout extends Error {}

export class Router {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly channels: Set<string>;

  constructor(private readonly deps: RouterDeps) {
    this.channels = new Set(deps.channels.map(ircLower));
  }

  find(name: string): Command | undefined {
    return this.deps.commands.find((c) => c.name === name || c.aliases.includes(name));
  }

  /** Handles one incoming message; resolves when its reply is queued. Never rejects. */
  handle(msg: IncomingMessage): Promise<void> {
    const p = this.route(msg).catch((e: unknown) => this.deps.log.error({ err: e }, "router failure"));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  /** Waits for running commands (at shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private async route(msg: IncomingMessage): Promise<void> {
    const { chat, log } = this.deps;
    if (msg.type === "notice") return; // never answer a NOTICE (that is how bot loops start)
    const status = chat.status();
    if (ircLower(msg.sender.nick) === ircLower(status.nick)) return;
    if (this.deps.ignore.some((m) => maskMatches(m, maskOf(msg.sender)))) return;
    const isPrivate = !chat.isChannel(msg.target);
    if (!isPrivate && !this.channels.has(ircLower(msg.target))) return;
    const parsed = parseCommandLine(msg.text, status.nick, isPrivate);
    if (!parsed) return;
    if (!status.onPrimaryNick) {
      // Another copy of the bot may hold the primary nick: acting too would double-log.
      log.warn({ nick: status.nick, command: parsed.name }, "ignoring command while not on the primary nick");
      return;
    }
    const channel = isPrivate ? null : msg.target;
    const replyTo = isPrivate ? msg.sender.nick : msg.target;
    const command = this.find(parsed.name);
    if (!command) {
      // A bare !word in a channel may be meant for another bot; answer only when addressed.
      if (isPrivate || !msg.text.trim().startsWith("!")) this.send(replyTo, msg.sender.nick, isPrivate, { lines: [`unknown command "${parsed.name}"; try !help`] });
      return;
    }
    const requestId = randomBytes(4).toString("hex");
    const clog = log.child({ req: requestId, command: command.name, nick: msg.sender.nick, account: msg.sender.account, channel });
    const decision = this.deps.acl.check(command.permission, channel, msg.sender, command.defaultRule);
    if (!decision.allowed) {
      clog.warn({ mask: maskOf(msg.sender), reason: decision.reason }, "command refused");
      this.deps.onOutcome(command.name, "refused");
      this.send(replyTo, msg.sender.nick, isPrivate, { lines: [`you may not use !${command.name}${channel ? ` in ${channel}` : " here"}: ${decision.reason}`] });
      return;
    }
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort(new Timeout());
        reject(new Timeout());
      }, this.deps.timeoutMs);
    });
    const started = Date.now();
    let outcome: Outcome = "ok";
    let answer: Reply;
    try {
      const ctx = { sender: msg.sender, channel, requestId, log: clog, signal: controller.signal, services: this.deps.services };
      answer = await Promise.race([command.execute(ctx, parsed.args), deadline]);
    } catch (e) {
      if (e instanceof UserError) {
        outcome = "user_error";
        answer = { lines: [e.message] };
      } else if (e instanceof RemoteError) {
        outcome = "remote_error";
        clog.warn({ err: e }, "command failed remotely");
        answer = { lines: [`!${command.name} failed: ${e.message} (ref ${requestId})`] };
      } else if (e instanceof Timeout) {
        outcome = "timeout";
        clog.error({ ms: this.deps.timeoutMs }, "command timed out");
        answer = { lines: [`!${command.name} timed out after ${Math.round(this.deps.timeoutMs / 1000)}s (ref ${requestId})`] };
      } else {
        outcome = "error";
        clog.error({ err: e }, "command crashed");
        answer = { lines: [`internal error (ref ${requestId})`] };
      }
    } finally {
      clearTimeout(timer);
    }
    clog.info({ outcome, ms: Date.now() - started }, "command");
    this.deps.onOutcome(command.name, outcome);
    this.send(replyTo, msg.sender.nick, isPrivate, answer);
  }

  private send(target: string, nick: string, isPrivate: boolean, r: Reply): void {
    const prefix = !isPrivate && r.address !== false ? `${nick}: ` : "";
    const budget = this.deps.chat.budget(target, false) - Buffer.byteLength(prefix);
    const pieces = r.lines.flatMap((l) => splitMessage(l, budget));
    const shown = capLines(pieces, this.deps.maxLinesPerReply, (hidden) => `(${hidden} more: ${r.more ?? this.deps.keepReply(r.lines)})`);
    for (const line of shown) this.deps.chat.send(target, prefix + line, { kind: "reply" });
  }
}
