// !rollback APP [REV] -- REASON: every host back to the previous release (or REV), in seconds.
// While a deploy waits for an answer after a failed gate, `!rollback [APP]` is that answer.

import { z } from "zod";
import { defineCommand, deploysOf, reportChannel, requireAppPermission, whoOf } from "../src/chat/command.js";
import { splitReason, targetWithReason } from "../src/chat/deploy-args.js";

const usage = "!rollback APP [REV] -- REASON";
const full = targetWithReason("rev");

export const rollback = defineCommand({
  name: "rollback",
  summary: "switch every host back to the previous release, or REV (or answer a deploy's gate question)",
  usage,
  permission: "deploy",
  defaultRule: { allow: ["identified"], deny: [] },
  args: z.string(),
  async run(ctx, text) {
    const deploys = deploysOf(ctx);
    const { words, reason } = splitReason(text);
    if (reason === null && words.length <= 1) {
      const answered = deploys.answerGate(words[0], "rollback", whoOf(ctx), ctx.channel);
      if (answered) return { lines: answered };
    }
    const { app, rev, reason: why } = full.parse(text);
    requireAppPermission(ctx, "deploy", app);
    return { lines: await deploys.rollback(app, rev, why, whoOf(ctx), reportChannel(ctx)) };
  },
});
