// Entries that other processes write to the same SAL (`tugboat deploy` in a terminal) reach the channel
// as the bot's own do: the store is read for ids above the last one seen, on a short interval. The
// bot's own entries, announced as they were written, are skipped: SalService tells this follower of
// each before any later read can run (its listeners run in the same turn of the event loop as the
// commit), so every entry is announced once, by whoever wrote it.

import type { Logger } from "pino";
import type { SalEntry } from "./entry.js";
import type { SalService } from "./service.js";

export interface SalFollowerDeps {
  readonly sal: SalService;
  readonly announce: (entry: SalEntry) => void;
  readonly log: Logger;
  readonly everyMs: number;
}

export class SalFollower {
  private cursor = 0;
  private readonly own = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | null = null;

  constructor(private readonly d: SalFollowerDeps) {
    d.sal.onEntry((e) => this.own.add(e.id));
  }

  /** From the entry written last: what was there before the bot started is not announced. */
  async start(): Promise<void> {
    this.cursor = await this.d.sal.store.lastId();
    for (const id of this.own) if (id <= this.cursor) this.own.delete(id);
    this.timer = setInterval(() => void this.poll(), this.d.everyMs);
  }

  /** Reads and announces what other processes wrote since the last read (one read at a time). */
  poll(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = null));
    return this.reading;
  }

  private async read(): Promise<void> {
    try {
      for (;;) {
        const entries = await this.d.sal.store.after(this.cursor, 100);
        for (const e of entries) {
          this.cursor = e.id;
          if (!this.own.delete(e.id)) this.d.announce(e);
        }
        if (entries.length < 100) return;
      }
    } catch (e) {
      this.d.log.warn({ err: e }, "could not read the SAL for entries written by other processes");
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.reading;
  }
}
