// The shape every chat command has (commands/*.ts), the context it runs in, and what it returns.
// Commands never touch the chat library: they get a context and return a Reply.

import type { Logger } from "pino";
import type { z } from "zod";
import type { Config, Rule } from "../config/schema.js";
import type { SalService } from "../sal/service.js";
import type { DeployService } from "../deploys/service.js";
import type { Acl } from "./acl.js";
import type { AlertsService } from "../alerts/alerts-service.js";
import type { GraphsPort } from "../metrics/graphs.js";
import { UserError } from "../errors.js";
import type { Sender } from "./port.js";

export interface Services {
  readonly config: Config;
  readonly sal: SalService;
  readonly links: Links;
  /** All registered commands (for !help). */
  readonly commands: readonly Command[];
  /** Deploys from the channel; null when no apps are configured. */
  readonly deploys: DeployService | null;
  readonly acl: Acl;
  /** Alerts (what is firing, silences); absent when nothing is configured. */
  readonly alerts?: AlertsService | null;
  /** Metric graphs (!graphs); null or absent when no metric source is configured. */
  readonly graphs?: GraphsPort | null;
}

export interface Links {
  entry(id: number): string;
  home(): string;
  help(command?: string): string;
  /** The web page of what a deploy of `to` would ship over `from` (null: a first deploy). */
  diff(app: string, from: string | null, to: string): string;
}

export interface CommandContext {
  readonly sender: Sender;
  /** The channel the command was typed in; null in a private message. */
  readonly channel: string | null;
  /** What the user typed after the command name (raw, formatting stripped). */
  readonly requestId: string;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly services: Services;
}

export interface Reply {
  readonly lines: readonly string[];
  /** Link for the "(N more: LINK)" tail when the reply is capped; defaults to a page of the whole reply. */
  readonly more?: string;
  /** Address the sender by nick in a channel ("nick: ..."); default true. */
  readonly address?: boolean;
}

export interface CommandSpec<A> {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly summary: string;
  readonly usage: string;
  /** Permission name looked up in config.permissions; defaultRule applies where the config is silent. */
  readonly permission: string;
  readonly defaultRule: Rule;
  /** Validates the raw argument text into the command's arguments. */
  readonly args: z.ZodType<A, string>;
  run(ctx: CommandContext, args: A): Promise<Reply>;
}

export interface Command {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly summary: string;
  readonly usage: string;
  readonly permission: string;
  readonly defaultRule: Rule;
  execute(ctx: CommandContext, rawArgs: string): Promise<Reply>;
}

/** Erases the argument type: the args schema is applied inside execute, so the registry is homogeneous. */
export function defineCommand<A>(spec: CommandSpec<A>): Command {
  return {
    name: spec.name,
    aliases: spec.aliases ?? [],
    summary: spec.summary,
    usage: spec.usage,
    permission: spec.permission,
    defaultRule: spec.defaultRule,
    async execute(ctx, rawArgs) {
      const parsed = spec.args.safeParse(rawArgs);
      if (!parsed.success) {
        const why = parsed.error.issues.map((i) => i.message).join("; ");
        throw new UserError(`${why} (usage: ${spec.usage})`);
      }
      return spec.run(ctx, parsed.data);
    },
  };
}

export const reply = (...lines: string[]): Reply => ({ lines });

/** The deploy service, or a clear refusal when this bot has no apps. */
export function deploysOf(ctx: CommandContext): DeployService {
  if (!ctx.services.deploys) throw new UserError("this bot has no apps configured (apps: in the config)");
  return ctx.services.deploys;
}

/** The alerts service, or a clear refusal when this bot has none. */
export function alertsOf(ctx: CommandContext): AlertsService {
  if (!ctx.services.alerts) throw new UserError("this bot receives no alerts (alerts: in the config)");
  return ctx.services.alerts;
}

/** The sender as the deploy service knows them. */
export function whoOf(ctx: CommandContext): { nick: string; account: string | null; mask: string } {
  return { nick: ctx.sender.nick, account: ctx.sender.account, mask: `${ctx.sender.nick}!${ctx.sender.user}@${ctx.sender.host}` };
}

/**
 * Per-app permissions: where the config has `ACTION.APP` (e.g. deploy.api), it must allow the sender
 * too, on top of the command's own permission.
 */
export function requireAppPermission(ctx: CommandContext, action: string, app: string): void {
  const name = `${action}.${app}`;
  if (!(name in ctx.services.config.permissions)) return;
  const decision = ctx.services.acl.check(name, ctx.channel, ctx.sender, { allow: [], deny: [] });
  if (!decision.allowed) throw new UserError(`you may not ${action} ${app}${ctx.channel ? ` in ${ctx.channel}` : ""}: ${decision.reason}`);
}

/** The channel a deploy reports to: where it was asked, or the first SAL channel for a private message. */
export function reportChannel(ctx: CommandContext): string {
  const channel = ctx.channel ?? Object.keys(ctx.services.config.sal.channels)[0];
  if (!channel) throw new UserError("ask in a channel: deploys report to the channel they were started in");
  return channel;
}
