// The ChatPort: what the bot needs from a chat network, whatever carries it.
// Adapters: IrcFrameworkChat (IRC) and ConsoleChat (a terminal); FakeChat in tests.

export interface Sender {
  readonly nick: string;
  readonly user: string;
  readonly host: string;
  /** Services account from the IRCv3 account-tag, or null when not identified (or unknown). */
  readonly account: string | null;
}

export interface IncomingMessage {
  readonly type: "privmsg" | "notice";
  readonly sender: Sender;
  /** A channel, or the bot's own nick for a private message. */
  readonly target: string;
  readonly text: string;
}

export interface OutgoingOptions {
  readonly notice?: boolean;
  /** Lines of the same kind queued during an outage are coalesced after reconnect. */
  readonly kind?: string;
}

export interface ChatStatus {
  readonly connected: boolean;
  readonly nick: string;
  /** False while the bot holds an alternate nick: it then ignores commands. */
  readonly onPrimaryNick: boolean;
  readonly queueDepth: number;
  readonly linesDropped: number;
}

export interface ChatPort {
  readonly name: string;
  start(): Promise<void>;
  stop(reason?: string): Promise<void>;
  onMessage(handler: (msg: IncomingMessage) => void | Promise<void>): void;
  /** Queue one line; it must already fit budget(). Never throws, never drops silently. */
  send(target: string, text: string, options?: OutgoingOptions): void;
  /** Bytes of text one PRIVMSG/NOTICE to target may carry. */
  budget(target: string, notice: boolean): number;
  isChannel(target: string): boolean;
  status(): ChatStatus;
  /** Resolves when the outbound queue is empty (or the timeout passes: false). */
  drain(timeoutMs: number): Promise<boolean>;
}

export function maskOf(s: Sender): string {
  return `${s.nick}!${s.user}@${s.host}`;
}
