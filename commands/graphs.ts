// !graphs APP [WINDOW]: per metric one line with a sparkline of the window (| where a deploy happened),
// the value now and the change, then the link to the web graph page.

import { z } from "zod";
import { defineCommand } from "../src/chat/command.js";
import { appArg } from "../src/chat/deploy-args.js";
import { UserError } from "../src/errors.js";
import { graphLine, parseWindow } from "../src/metrics/graphs.js";

export const graphs = defineCommand({
  name: "graphs",
  summary: "each metric of APP over WINDOW (default 1h; e.g. 30m, 6h, 2d) as a sparkline with deploys marked |, the value now and the change",
  usage: "!graphs APP [WINDOW]",
  permission: "status",
  defaultRule: { allow: ["anyone"], deny: [] },
  args: z.string().transform((text, ctx) => {
    const [app, window = "1h", ...rest] = text.trim().split(/\s+/).filter(Boolean);
    const parsed = z.object({ app: appArg, window: z.string().refine((w) => parseWindow(w) !== null, "a window such as 30m, 6h or 2d (at most 7d)") }).safeParse({ app, window });
    if (!parsed.success || rest.length) {
      ctx.addIssue({ code: "custom", message: parsed.success ? "expected !graphs APP [WINDOW]" : parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join("; ") });
      return z.NEVER;
    }
    return parsed.data;
  }),
  async run(ctx, { app, window }) {
    const port = ctx.services.graphs;
    if (!port) throw new UserError("no metric source is configured (metrics.graphite or metrics.prometheus in the config)");
    const g = await port.load(app, parseWindow(window)!, ctx.signal);
    const marks = g.deploys.length ? ` (| = ${g.deploys.map((d) => `${d.kind} #${d.id}`).join(", ")})` : "";
    return { lines: [...g.metrics.map((m) => graphLine(m, g, window)), `${port.url(app, window)}${marks}`], more: port.url(app, window) };
  },
});
