// !retry [APP]: the answer to a deploy's gate question (run the failed canaries again).

import { defineCommand, deploysOf, whoOf } from "../src/chat/command.js";
import { optionalApp } from "../src/chat/deploy-args.js";
import { UserError } from "../src/errors.js";

export const retry = defineCommand({
  name: "retry",
  summary: "answer a deploy's question after failed canaries: run them again",
  usage: "!retry [APP]",
  permission: "deploy",
  defaultRule: { allow: ["identified"], deny: [] },
  args: optionalApp,
  async run(ctx, app) {
    const answered = deploysOf(ctx).answerGate(app, "retry", whoOf(ctx), ctx.channel);
    if (!answered) throw new UserError("no deploy is waiting for an answer");
    return { lines: answered };
  },
});
