// !yes: confirms the !deploy the same account asked for (for apps that require a confirmation).

import { z } from "zod";
import { defineCommand, deploysOf, whoOf } from "../src/chat/command.js";

export const yes = defineCommand({
  name: "yes",
  summary: "confirm your pending !deploy",
  usage: "!yes",
  permission: "deploy",
  defaultRule: { allow: ["identified"], deny: [] },
  args: z.string().trim().max(0, "!yes takes no arguments"),
  async run(ctx) {
    return { lines: deploysOf(ctx).yes(whoOf(ctx)) };
  },
});
