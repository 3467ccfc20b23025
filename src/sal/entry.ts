// A Server Admin Log entry: the shape stored, searched, rendered and announced.
// The store is append-only; an entry never changes once written.

export type SalSource = "irc" | "api" | "cli" | "deploy" | "console";

export interface SalEntry {
  /** Monotonic id, the permalink: /log/ID */
  readonly id: number;
  /** UTC time the entry was written, ISO 8601 with milliseconds ("2026-11-26T13:34:36.123Z"). */
  readonly time: string;
  readonly nick: string;
  /** Services account (IRCv3 account-tag) when known. */
  readonly account: string | null;
  /** nick!user@host for IRC entries; null otherwise. */
  readonly mask: string | null;
  /** Channel the entry was logged in (or announced to), if any. */
  readonly channel: string | null;
  readonly project: string | null;
  /** The message, IRC formatting already stripped. */
  readonly message: string;
  readonly source: SalSource;
  /** Who wrote it when not a person on IRC: an API token's name such as "l10nupdate@deploy1001". */
  readonly identity: string | null;
  /** Optional links: a deploy id, a task id (e.g. "T1234"). */
  readonly deployId: number | null;
  readonly task: string | null;
}

export type NewSalEntry = Omit<SalEntry, "id" | "time"> & {
  /** A retried request with the same key returns the first entry and writes nothing. */
  readonly idempotencyKey?: string | null;
};
