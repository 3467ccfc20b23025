// The fleet dashboard's routes: /fleet (every app's hosts, or one app's) and /fleet/events, the
// server-sent event stream of cell patches. Open streams are ended when the server closes, so a
// shutdown never waits on a browser.

import type { FastifyInstance, RawServerDefault } from "fastify";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { z } from "zod";
import type { FleetBoard } from "./fleet-board.js";
import { DETAIL_PANEL, GRID_CSS, GRID_SCRIPT, sectionsHtml, STATE_KEY } from "./fleet-view.js";
import { layout, sitePath } from "./layout.js";
import { escapeHtml as e } from "./linkify.js";

const KEEPALIVE_MS = 15_000;

export function registerFleetRoutes(app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>, deps: { readonly board: FleetBoard | null; readonly baseUrl: () => string }): void {
  const streams = new Set<ServerResponse>();
  app.addHook("preClose", (done) => {
    for (const res of streams) res.end();
    done();
  });
  const appNames = deps.board?.grid.appNames() ?? [];
  const Query = z.strictObject({
    app: z.preprocess((v) => (v === "" ? undefined : v), z.enum(appNames.length ? (appNames as [string, ...string[]]) : ["-"], { error: `app: one of ${appNames.join(", ") || "(no apps are configured)"}` }).optional()),
    since: z.string().max(40).regex(/^[0-9a-f]{8}\.\d+$/, "since: an event id").optional(),
  });
  const parse = (q: unknown) => {
    const r = Query.safeParse(q);
    return r.success ? { ok: true as const, data: r.data } : { ok: false as const, error: r.error.issues.map((i) => i.message).join("; ") };
  };

  app.get("/fleet", async (req, reply) => {
    const board = deps.board;
    const base = deps.baseUrl();
    const q = parse(req.query);
    if (!q.ok) return reply.code(400).type("text/html; charset=utf-8").send(layout({ title: "Fleet", baseUrl: base, body: `<h1>Fleet</h1><p class="error">${e(q.error)}</p>` }));
    if (!board || appNames.length === 0) return reply.type("text/html; charset=utf-8").send(layout({ title: "Fleet", baseUrl: base, body: "<h1>Fleet</h1><p>No apps are configured.</p>" }));
    const shown = q.data.app ? [q.data.app] : appNames;
    for (const a of shown) board.refreshIfOld(a);
    const filter = [["All apps", ""], ...appNames.map((a) => [a, a])]
      .map(([label, a]) => (a === (q.data.app ?? "") ? `<strong>${e(label!)}</strong>` : `<a href="${e(sitePath(base, a ? `/fleet?app=${encodeURIComponent(a)}` : "/fleet"))}">${e(label!)}</a>`))
      .join(" · ");
    const stream = sitePath(base, `/fleet/events?${q.data.app ? `app=${encodeURIComponent(q.data.app)}&` : ""}since=${board.id()}`);
    const sections = board.grid.sections.filter((s) => shown.includes(s.app));
    const body = `<h1>Fleet</h1>
<p class="muted"><span id="fleet-live" class="live" data-state="connecting">connecting…</span> · ${filter}</p>
${STATE_KEY}
<div id="fleet" data-stream="${e(stream)}" data-seq="${e(board.id())}">${sectionsHtml(board.grid, sections, Date.now())}</div>
${DETAIL_PANEL}
<script>${GRID_SCRIPT}</script>`;
    const head = `<style>${GRID_CSS}</style>`;
    return reply.type("text/html; charset=utf-8").send(layout({ title: "Fleet", baseUrl: base, body, head }).replace('<main class="wrap">', '<main class="wrap wide">'));
  });

  app.get("/fleet/events", (req, reply) => {
    const q = parse(req.query);
    if (!q.ok) return reply.code(400).send({ error: q.error });
    if (!deps.board) return reply.code(404).send({ error: "no apps are configured" });
    const board = deps.board;
    const header = req.headers["last-event-id"];
    // The browser's Last-Event-ID (on a reconnect) is newer than the page's own id.
    const lastId = typeof header === "string" && /^[0-9a-f]{8}\.\d+$/.test(header) ? header : (q.data.since ?? null);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache, no-transform", "x-accel-buffering": "no", connection: "keep-alive" });
    res.write("retry: 1000\n\n");
    streams.add(res);
    const unsubscribe = board.subscribe(q.data.app ? [q.data.app] : appNames, lastId, (id, data) => res.write(`id: ${id}\nevent: grid\ndata: ${data}\n\n`));
    const ping = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
    res.on("close", () => {
      clearInterval(ping);
      unsubscribe();
      streams.delete(res);
    });
    return reply;
  });
}
