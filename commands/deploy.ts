// !deploy APP [REF] -- REASON: answers at once with what it will ship, then runs the rollout.

import { defineCommand, deploysOf, reportChannel, requireAppPermission, whoOf } from "../src/chat/command.js";
import { targetWithReason } from "../src/chat/deploy-args.js";

const usage = "!deploy APP [REF] -- REASON";

export const deploy = defineCommand({
  name: "deploy",
  summary: "ship REF (default: the app's branch) to the app's hosts, canaries first",
  usage,
  permission: "deploy",
  defaultRule: { allow: ["identified"], deny: [] },
  args: targetWithReason("ref"),
  async run(ctx, { app, rev, reason }) {
    requireAppPermission(ctx, "deploy", app);
    return { lines: await deploysOf(ctx).deploy(app, rev, reason, whoOf(ctx), reportChannel(ctx), ctx.signal) };
  },
});
