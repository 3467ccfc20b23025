// !continue [APP]: the answer to a deploy's gate question (go on to the batches despite the failures).

import { defineCommand, deploysOf, whoOf } from "../src/chat/command.js";
import { optionalApp } from "../src/chat/deploy-args.js";
import { UserError } from "../src/errors.js";

export const continueRollout = defineCommand({
  name: "continue",
  summary: "answer a deploy's question after failed canaries: go on with the rollout",
  usage: "!continue [APP]",
  permission: "deploy",
  defaultRule: { allow: ["identified"], deny: [] },
  args: optionalApp,
  async run(ctx, app) {
    const answered = deploysOf(ctx).answerGate(app, "continue", whoOf(ctx), ctx.channel);
    if (!answered) throw new UserError("no deploy is waiting for an answer");
    return { lines: answered };
  },
});
