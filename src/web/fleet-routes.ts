// The fleet dashboard's routes: /fleet (every app's hosts, or one app's) and /fleet/events, the
// server-sent event stream of cell patches. Open streams are ended when the server closes, so a
// shutdown never waits on a browser. A page is rendered once per board state (and at most every
// PAGE_MAX_AGE_MS for the ages it shows) and kept as bytes, gzipped on the first request that takes it.

import type { FastifyInstance, RawServerDefault } from "fastify";
import type { IncomingMessage, ServerResponse } from "node:http";
import { gzipSync } from "node:zlib";
import type { Logger } from "pino";
import { z } from "zod";
import type { FleetBoard } from "./fleet-board.js";
import { DETAIL_PANEL, GRID_CSS, GRID_SCRIPT, sectionsHtml, STATE_KEY, KEYS_HINT } from "./fleet-view.js";
import { layout, sitePath } from "./layout.js";
import { escapeHtml as e } from "./linkify.js";

const KEEPALIVE_MS = 15_000;
/** A cached page is rendered again after this long even when the board did not change (release ages). */
const PAGE_MAX_AGE_MS = 10_000;

interface CachedPage {
  readonly id: string;
  readonly at: number;
  readonly html: Buffer;
  gzip: Buffer | null;
}

export function registerFleetRoutes(app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>, deps: { readonly board: FleetBoard | null; readonly baseUrl: () => string }): void {
  const streams = new Set<ServerResponse>();
  const pages = new Map<string, CachedPage>();
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
    // The page embeds the board's id (the stream starts there), so a page of the same id is the same page.
    const key = `${base}|${q.data.app ?? ""}`;
    const now = Date.now();
    let page = pages.get(key);
    if (!page || page.id !== board.id() || now - page.at > PAGE_MAX_AGE_MS) {
      page = { id: board.id(), at: now, html: Buffer.from(renderPage(board, base, q.data.app, shown)), gzip: null };
      pages.set(key, page);
    }
    void reply.type("text/html; charset=utf-8").header("vary", "accept-encoding");
    if (!/\bgzip\b/.test(req.headers["accept-encoding"] ?? "")) return reply.send(page.html);
    page.gzip ??= gzipSync(page.html, { level: 6 });
    return reply.header("content-encoding", "gzip").send(page.gzip);
  });

  const renderPage = (board: FleetBoard, base: string, app: string | undefined, shown: readonly string[]): string => {
    const filter = [["All apps", ""], ...appNames.map((a) => [a, a])]
      .map(([label, a]) => (a === (app ?? "") ? `<strong>${e(label!)}</strong>` : `<a href="${e(sitePath(base, a ? `/fleet?app=${encodeURIComponent(a)}` : "/fleet"))}">${e(label!)}</a>`))
      .join(" · ");
    const stream = sitePath(base, `/fleet/events?${app ? `app=${encodeURIComponent(app)}&` : ""}since=${board.id()}`);
    const sections = board.grid.sections.filter((s) => shown.includes(s.app));
    const body = `<h1>Fleet</h1>
<p class="muted"><span id="fleet-live" class="live" data-state="connecting">connecting…</span> · ${filter}</p>
${STATE_KEY}${KEYS_HINT}
<div id="fleet" data-stream="${e(stream)}" data-seq="${e(board.id())}">${sectionsHtml(board.grid, sections, Date.now())}</div>
${DETAIL_PANEL}
<script>${GRID_SCRIPT}</script>`;
    const head = `<style>${GRID_CSS}</style>`;
    return layout({ title: "Fleet", baseUrl: base, body, head }).replace('<main class="wrap">', '<main class="wrap wide">');
  };

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
