// The one way an entry enters the SAL, whatever its source (IRC, API, CLI, deploys):
// clean and validate the text, check the project, extract the task, append durably, then notify.

import type { Config } from "../config/schema.js";
import { stripFormatting } from "../chat/format.js";
import { UserError } from "../errors.js";
import type { NewSalEntry, SalEntry, SalSource } from "./entry.js";
import type { AppendResult, SalStore } from "./store.js";
import { closest } from "../text/did-you-mean.js";

export interface LogRequest {
  readonly nick: string;
  readonly account?: string | null;
  readonly mask?: string | null;
  readonly channel?: string | null;
  readonly project?: string | null;
  readonly message: string;
  readonly source: SalSource;
  readonly identity?: string | null;
  readonly deployId?: number | null;
  readonly idempotencyKey?: string | null;
}

export type EntryListener = (entry: SalEntry) => void;

export class SalService {
  private readonly listeners: EntryListener[] = [];
  private readonly taskPattern: RegExp;

  constructor(
    readonly store: SalStore,
    private readonly config: Config["sal"],
    private readonly onWritten: (source: SalSource) => void = () => {},
  ) {
    this.taskPattern = new RegExp(config.taskPattern, "u");
  }

  /** Called after every new entry is durable (not for idempotent repeats). */
  onEntry(listener: EntryListener): void {
    this.listeners.push(listener);
  }

  isSalChannel(channel: string | null): boolean {
    return channel !== null && this.channelConfig(channel) !== undefined;
  }

  channelConfig(channel: string): Config["sal"]["channels"][string] | undefined {
    const lower = channel.toLowerCase();
    return Object.entries(this.config.channels).find(([c]) => c.toLowerCase() === lower)?.[1];
  }

  /** Checks the message text; returns it cleaned. Throws UserError with the reason. */
  cleanMessage(text: string): string {
    const message = stripFormatting(text).replace(/\s+/g, " ").trim();
    if (message === "") throw new UserError("the message is empty: say what you did");
    const length = [...message].length;
    if (length > this.config.maxLength) {
      throw new UserError(`the message is too long: ${length} characters, the limit is ${this.config.maxLength}`);
    }
    return message;
  }

  checkProject(project: string): string {
    if (this.config.projects.includes(project)) return project;
    const guess = closest(project, this.config.projects);
    throw new UserError(`unknown project "${project}"${guess ? ` (did you mean ${guess}?)` : ""}; known: ${this.config.projects.join(", ") || "none"}`);
  }

  async log(req: LogRequest): Promise<AppendResult> {
    const message = this.cleanMessage(req.message);
    const project = req.project ? this.checkProject(req.project) : null;
    const entry: NewSalEntry = {
      nick: stripFormatting(req.nick).trim() || "unknown",
      account: req.account ?? null,
      mask: req.mask ?? null,
      channel: req.channel ?? null,
      project,
      message,
      source: req.source,
      identity: req.identity ?? null,
      deployId: req.deployId ?? null,
      task: this.taskPattern.exec(message)?.[0] ?? null,
      idempotencyKey: req.idempotencyKey ?? null,
    };
    const result = await this.store.append(entry);
    if (result.created) {
      this.onWritten(req.source);
      for (const l of this.listeners) l(result.entry);
    }
    return result;
  }
}
