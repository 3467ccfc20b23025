// !status [APP]: what every host runs (the census, summarised), the lock, any running deploy.

import { defineCommand, deploysOf } from "../src/chat/command.js";
import { optionalApp } from "../src/chat/deploy-args.js";

export const status = defineCommand({
  name: "status",
  summary: "what every host of an app runs, drift, locks and any running deploy (all apps without APP)",
  usage: "!status [APP]",
  permission: "status",
  defaultRule: { allow: ["anyone"], deny: [] },
  args: optionalApp,
  async run(ctx, app) {
    const deploys = deploysOf(ctx);
    const apps = app ? [app] : Object.keys(ctx.services.config.apps);
    const lines = (await Promise.all(apps.map((a) => deploys.status(a, ctx.signal)))).flat();
    return { lines };
  },
});
