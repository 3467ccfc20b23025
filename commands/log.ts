// !log MESSAGE (or !log PROJECT MESSAGE where the channel requires a project): write a SAL entry.
// The acknowledgement goes out only after the entry is durable.

import { z } from "zod";
import { defineCommand } from "../src/chat/command.js";
import { maskOf } from "../src/chat/port.js";
import { UserError } from "../src/errors.js";

export const log = defineCommand({
  name: "log",
  summary: "write an entry in the Server Admin Log",
  usage: "!log MESSAGE (or !log PROJECT MESSAGE where the channel requires a project)",
  permission: "log",
  defaultRule: { allow: ["anyone"], deny: [] },
  args: z.string().trim().min(1, "say what you did"),
  async run(ctx, text) {
    const { sal } = ctx.services;
    if (!sal.isSalChannel(ctx.channel)) {
      const where = Object.keys(ctx.services.config.sal.channels);
      throw new UserError(`not logging here${where.length ? ` (the SAL channels: ${where.join(", ")})` : ""}`);
    }
    let project: string | null = null;
    let message = text;
    if (ctx.channel && sal.channelConfig(ctx.channel)?.requireProject) {
      const [first = "", ...rest] = text.split(/\s+/);
      project = sal.checkProject(first);
      message = rest.join(" ");
    }
    const { entry } = await sal.log({
      nick: ctx.sender.nick,
      account: ctx.sender.account,
      mask: maskOf(ctx.sender),
      channel: ctx.channel,
      project,
      message,
      source: ctx.services.config.chat === "console" ? "console" : "irc",
    });
    return { lines: [`Logged the message at ${ctx.services.links.entry(entry.id)}`] };
  },
});
