// !silence MATCHERS DURATION -- REASON and !unsilence ID: silences in Alertmanager, recorded in the SAL.

import { z } from "zod";
import { alertsOf, defineCommand, whoOf } from "../src/chat/command.js";
import { silenceArgs } from "../src/alerts/silence-args.js";

export const silence = defineCommand({
  name: "silence",
  summary: "silence alerts in Alertmanager for a while, e.g. !silence alertname=DiskFull instance=~web.* 2h -- T1234 resizing",
  usage: "!silence MATCHERS DURATION -- REASON",
  permission: "silence",
  defaultRule: { allow: ["identified"], deny: [] },
  args: silenceArgs,
  async run(ctx, a) {
    return { lines: [await alertsOf(ctx).silence({ ...a, who: whoOf(ctx), channel: ctx.channel, signal: ctx.signal })] };
  },
});

export const unsilence = defineCommand({
  name: "unsilence",
  summary: "expire a silence in Alertmanager",
  usage: "!unsilence ID",
  permission: "silence",
  defaultRule: { allow: ["identified"], deny: [] },
  args: z.string().trim().pipe(z.string().regex(/^[0-9a-fA-F-]{8,64}$/, "expected a silence ID such as 0b5c3e0a-...")),
  async run(ctx, id) {
    return { lines: [await alertsOf(ctx).unsilence({ id, who: whoOf(ctx), channel: ctx.channel, signal: ctx.signal })] };
  },
});
