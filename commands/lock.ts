// !lock APP|all -- REASON and !unlock APP|all: the holder may still deploy; others are refused.

import { z } from "zod";
import { defineCommand, deploysOf, whoOf } from "../src/chat/command.js";
import { appArg, targetWithReason } from "../src/chat/deploy-args.js";

export const lock = defineCommand({
  name: "lock",
  summary: "stop others deploying APP (all: freeze every deploy); you may still deploy",
  usage: "!lock APP|all -- REASON",
  permission: "lock",
  defaultRule: { allow: ["identified"], deny: [] },
  args: targetWithReason("none"),
  async run(ctx, { app, reason }) {
    return { lines: await deploysOf(ctx).lock(app, reason, whoOf(ctx), ctx.channel) };
  },
});

export const unlock = defineCommand({
  name: "unlock",
  summary: "lift a lock (or the freeze); also clears a stale deploy whose process died",
  usage: "!unlock APP|all",
  permission: "lock",
  defaultRule: { allow: ["identified"], deny: [] },
  args: z.string().trim().pipe(z.union([appArg, z.literal("all")], { error: "expected !unlock APP|all" })),
  async run(ctx, app) {
    return { lines: await deploysOf(ctx).unlock(app, whoOf(ctx), ctx.channel) };
  },
});
