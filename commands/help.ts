// !help and !help CMD, generated from the commands' own metadata.

import { z } from "zod";
import { defineCommand } from "../src/chat/command.js";
import { UserError } from "../src/errors.js";
import { closest } from "../src/text/did-you-mean.js";

export const help = defineCommand({
  name: "help",
  aliases: ["commands"],
  summary: "list the commands, or explain one",
  usage: "!help [COMMAND]",
  permission: "help",
  defaultRule: { allow: ["anyone"], deny: [] },
  args: z.string().trim().transform((s) => s.replace(/^!/, "").toLowerCase()).pipe(z.string().regex(/^[a-z0-9-]*$/, "a command name")),
  async run(ctx, name) {
    const { commands, links } = ctx.services;
    if (name === "") {
      const list = commands.map((c) => `!${c.name}`).join(" ");
      return { lines: [`Commands: ${list}. Say !help COMMAND for one; all of them: ${links.help()}`] };
    }
    const command = commands.find((c) => c.name === name || c.aliases.includes(name));
    if (!command) {
      const guess = closest(name, commands.map((c) => c.name));
      throw new UserError(`no command !${name}${guess ? ` (did you mean !${guess}?)` : ""}`);
    }
    const aliases = command.aliases.length ? ` (also ${command.aliases.map((a) => `!${a}`).join(", ")})` : "";
    return { lines: [`${command.usage}: ${command.summary}${aliases}`], more: links.help(command.name) };
  },
});
