// !diff APP [REF]: what a deploy would ship (range, commits, +/-), without deploying.

import { z } from "zod";
import { defineCommand, deploysOf } from "../src/chat/command.js";
import { appArg, refArg, splitReason } from "../src/chat/deploy-args.js";

export const diff = defineCommand({
  name: "diff",
  summary: "what a deploy of REF would ship: range, commits, +/-",
  usage: "!diff APP [REF]",
  permission: "status",
  defaultRule: { allow: ["anyone"], deny: [] },
  args: z.string().transform((t, ctx) => {
    const [app, ref, ...rest] = splitReason(t).words;
    const parsed = z.object({ app: appArg, ref: refArg.optional() }).safeParse({ app, ref });
    if (!parsed.success || rest.length) {
      ctx.addIssue({ code: "custom", message: parsed.success ? "expected !diff APP [REF]" : parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join("; ") });
      return z.NEVER;
    }
    return parsed.data;
  }),
  async run(ctx, { app, ref }) {
    const { preview, line } = await deploysOf(ctx).diff(app, ref, ctx.signal);
    const commits = preview.range.commits.slice(0, 3).map((c) => `${c.short} ${c.author}: ${c.subject}`);
    const more = preview.range.count > 3 ? [`and ${preview.range.count - 3} more`] : [];
    return { lines: [line, ...commits, ...more, `the diff: ${ctx.services.links.diff(app, preview.from, preview.staged.sha)}`] };
  },
});
