// Replies too long for the channel are kept here, so the "(N more: LINK)" tail leads to the whole text.
// In memory and bounded: these are conveniences, not records (the SAL is the record).

import { randomBytes } from "node:crypto";

export class ReplyPages {
  private readonly pages = new Map<string, readonly string[]>();

  constructor(
    private readonly baseUrl: string,
    private readonly keep = 500,
  ) {}

  /** Stores the lines; returns the URL that shows them. */
  add(lines: readonly string[]): string {
    const id = randomBytes(6).toString("base64url");
    this.pages.set(id, lines);
    if (this.pages.size > this.keep) this.pages.delete(this.pages.keys().next().value!);
    return `${this.baseUrl}/reply/${id}`;
  }

  get(id: string): readonly string[] | undefined {
    return this.pages.get(id);
  }
}
