// !alerts [FILTER]: what is firing now, one line per alert name (FILTER: a word or label=value).

import { z } from "zod";
import { alertsOf, defineCommand } from "../src/chat/command.js";

export const alerts = defineCommand({
  name: "alerts",
  summary: "what is firing now, summarised per alert name (FILTER: a word, or label=value)",
  usage: "!alerts [FILTER]",
  permission: "alerts",
  defaultRule: { allow: ["anyone"], deny: [] },
  args: z.string().trim().pipe(z.string().max(200, "the filter is too long").regex(/^\S*$/, "one filter word, or label=value")),
  async run(ctx, filter) {
    const service = alertsOf(ctx);
    return { lines: service.firing(filter || null), more: service.alertsUrl() };
  },
});
