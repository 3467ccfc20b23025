// !abort APP: start no new hosts, roll back the hosts already switched, say what was done.

import { defineCommand, deploysOf, whoOf } from "../src/chat/command.js";
import { appArg } from "../src/chat/deploy-args.js";
import { z } from "zod";

export const abort = defineCommand({
  name: "abort",
  summary: "stop a running deploy: no new hosts, and the hosts already switched go back",
  usage: "!abort APP",
  permission: "deploy",
  defaultRule: { allow: ["identified"], deny: [] },
  args: z.string().trim().pipe(appArg),
  async run(ctx, app) {
    return { lines: deploysOf(ctx).abort(app, whoOf(ctx), ctx.channel) };
  },
});
