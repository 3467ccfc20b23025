// The HTTP server (fastify): SAL pages and API, the Atom feed, health and the bot's metrics.
// Every query and body is validated with zod; errors answer with a status and a specific reason.

import { createHash, timingSafeEqual } from "node:crypto";
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { z } from "zod";
import type { Command } from "../chat/command.js";
import type { Config } from "../config/schema.js";
import { UserError } from "../errors.js";
import type { SalService } from "../sal/service.js";
import { renderAtomFeed } from "./atom.js";
import { layout, sitePath } from "./layout.js";
import { escapeHtml, type LinkRules } from "./linkify.js";
import { renderEntryPage, renderNotFound, renderSalPage } from "./sal-page.js";
import type { ReplyPages } from "./reply-pages.js";
import type { DeployJournal } from "../fleet/journal.js";
import type { StagingPort } from "../fleet/engine.js";
import { renderDeployList, renderDeployPage, renderDiffPage } from "./deploy-pages.js";
import type { FleetBoard } from "./fleet-board.js";
import { replayApp, replayHtml } from "./fleet-replay.js";
import { registerFleetRoutes } from "./fleet-routes.js";
import { alertReceiverRoutes, type ReceiverDeps } from "../alerts/receiver-routes.js";
import { renderAlertsPage } from "../alerts/alerts-page.js";
import type { GraphsPort } from "../metrics/graphs.js";
import { parseWindow } from "../metrics/graphs.js";
import type { VerdictRecord } from "../metrics/deploy-watch.js";
import { renderGraphPage, renderVerdicts } from "./graph-pages.js";

export interface WebDeps {
  readonly config: Config;
  readonly baseUrl: string;
  readonly sal: SalService;
  readonly apiTokens: ReadonlyArray<{ readonly name: string; readonly token: string }>;
  readonly commands: readonly Command[];
  readonly replies: ReplyPages;
  readonly log: Logger;
  readonly metrics: () => string;
  readonly health: () => { irc: { connected: boolean; nick: string; queueDepth: number } };
  /** Where API entries are announced when the body names no channel. */
  readonly defaultChannel: string | null;
  /** The deploy journal and staging repositories, when apps are configured. */
  readonly deploys?: DeploySource | null;
  /** The live fleet grid (/fleet), when apps are configured. */
  readonly fleetBoard?: FleetBoard | null;
  /** The alert store and receivers, when alerts are wired. */
  readonly alerts?: Pick<ReceiverDeps, "store" | "receivers" | "secrets" | "onStored" | "onRefused"> | null;
  /** Metric graphs (/graphs/APP) and verdicts on deploy pages, when metrics are configured. */
  readonly graphs?: GraphsPort | null;
  readonly verdicts?: (deployId: number) => readonly VerdictRecord[];
}

export interface DeploySource {
  readonly journal: DeployJournal;
  readonly apps: readonly string[];
  readonly staging: (app: string) => StagingPort;
  /** When tugboat first shipped each release of an app (the deploy page's grid legend). */
  readonly shipped?: (app: string) => ReadonlyMap<string, string>;
}

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date YYYY-MM-DD").refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)), "not a real date");
const emptyToUndefined = (v: unknown) => (v === "" ? undefined : v);

const SalQuery = z.strictObject({
  q: z.preprocess(emptyToUndefined, z.string().max(200).optional()),
  nick: z.preprocess(emptyToUndefined, z.string().max(64).optional()),
  project: z.preprocess(emptyToUndefined, z.string().max(64).optional()),
  before: z.preprocess(emptyToUndefined, day.optional()),
  cursor: z.preprocess(emptyToUndefined, z.string().max(64).optional()),
  limit: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(500).optional()),
});

const LogBody = z.strictObject({
  message: z.string({ error: "message is required (a string)" }),
  nick: z.string().min(1).max(64).regex(/^[^\s]+$/, "nick has no spaces").optional(),
  project: z.string().max(64).optional(),
  channel: z.string().max(64).optional(),
  idempotencyKey: z.string().min(1).max(200).optional(),
  deployId: z.number().int().positive().optional(),
});

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function issues(e: z.ZodError): string {
  return e.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; ");
}

export function buildWebServer(deps: WebDeps) {
  const { config, sal } = deps;
  const app = Fastify({ loggerInstance: deps.log, bodyLimit: config.web.bodyLimitBytes, logController: new LogController({ disableRequestLogging: true }), return503OnClosing: true });
  const rules: LinkRules = {
    taskPattern: new RegExp(config.sal.taskPattern, "gu"),
    taskUrl: config.sal.taskUrl,
    commitUrl: config.sal.commitUrl,
  };
  const tokens = deps.apiTokens.map((t) => ({ name: t.name, hash: digest(t.token) }));
  const html = (reply: FastifyReply, status: number, body: string) => reply.code(status).type("text/html; charset=utf-8").send(body);

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) req.log.error({ err }, "request failed");
    const message =
      err.code === "FST_ERR_CTP_BODY_TOO_LARGE" ? `body too large: the limit is ${config.web.bodyLimitBytes} bytes`
      : err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" ? "send the body as application/json"
      : err.code === "FST_ERR_CTP_EMPTY_JSON_BODY" ? "the body is empty: send a JSON object"
      : status >= 500 ? "internal error"
      : err.message;
    void reply.code(status).send({ error: message });
  });

  app.get("/", async (req, reply) => {
    const parsed = SalQuery.safeParse(req.query);
    const query = parsed.success ? parsed.data : {};
    const page = await sal.store.search({ ...query, limit: query.limit ?? config.web.pageSize });
    const q = { ...(query.q ? { q: query.q } : {}), ...(query.nick ? { nick: query.nick } : {}), ...(query.project ? { project: query.project } : {}), ...(query.before ? { before: query.before } : {}) };
    return html(reply, parsed.success ? 200 : 400, renderSalPage({
      entries: page.entries, query: q, nextCursor: page.nextCursor, projects: [...config.sal.projects], rules, baseUrl: deps.baseUrl,
      ...(parsed.success ? {} : { error: issues(parsed.error) }),
    }));
  });

  app.get("/log/:id", async (req, reply) => {
    const id = z.coerce.number().int().positive().safeParse((req.params as { id: string }).id);
    const entry = id.success ? await sal.store.get(id.data) : null;
    if (!entry) return html(reply, 404, renderNotFound("No SAL entry has that number.", deps.baseUrl));
    return html(reply, 200, renderEntryPage(entry, rules, deps.baseUrl));
  });

  app.get("/feed.atom", async (req, reply) => {
    const parsed = SalQuery.safeParse(req.query);
    if (!parsed.success) return reply.code(400).send({ error: issues(parsed.error) });
    const page = await sal.store.search({ ...parsed.data, limit: Math.min(parsed.data.limit ?? 50, 200) });
    const updated = page.entries[0]?.time ?? new Date(0).toISOString();
    return reply.type("application/atom+xml; charset=utf-8").send(renderAtomFeed({ entries: page.entries, baseUrl: deps.baseUrl, title: "Server Admin Log", updated }));
  });

  app.get("/api/sal", async (req, reply) => {
    const parsed = SalQuery.safeParse(req.query);
    if (!parsed.success) return reply.code(400).send({ error: issues(parsed.error) });
    const page = await sal.store.search({ ...parsed.data, limit: parsed.data.limit ?? config.web.pageSize });
    return { entries: page.entries.map((e) => ({ ...e, url: `${deps.baseUrl}/log/${e.id}` })), nextCursor: page.nextCursor };
  });

  const authenticate = (req: FastifyRequest): string | null => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    if (!m) return null;
    const given = digest(m[1]!);
    // Compare against every token in constant time, so timing reveals neither a token nor its name.
    let found: string | null = null;
    for (const t of tokens) if (timingSafeEqual(t.hash, given)) found = t.name;
    return found;
  };

  app.post("/api/log", async (req, reply) => {
    const identity = authenticate(req);
    if (!identity) return reply.code(401).header("www-authenticate", 'Bearer realm="tugboat"').send({ error: "missing or wrong API token (Authorization: Bearer TOKEN)" });
    if (!/^application\/json\b/i.test(req.headers["content-type"] ?? "")) return reply.code(415).send({ error: "send the body as application/json" });
    const body = LogBody.safeParse(req.body);
    if (!body.success) return reply.code(400).send({ error: issues(body.error) });
    const header = req.headers["idempotency-key"];
    const idempotencyKey = body.data.idempotencyKey ?? (typeof header === "string" && header.length > 0 && header.length <= 200 ? header : undefined);
    const channel = body.data.channel ?? deps.defaultChannel;
    if (body.data.channel && !sal.isSalChannel(body.data.channel)) {
      return reply.code(400).send({ error: `channel: ${body.data.channel} is not a SAL channel (SAL channels: ${Object.keys(config.sal.channels).join(", ") || "none"})` });
    }
    try {
      const { entry, created } = await sal.log({
        nick: body.data.nick ?? identity.split("@")[0]!,
        channel,
        project: body.data.project ?? null,
        message: body.data.message,
        source: "api",
        identity,
        deployId: body.data.deployId ?? null,
        idempotencyKey: idempotencyKey ?? null,
      });
      return reply.code(created ? 201 : 200).send({ entry, url: `${deps.baseUrl}/log/${entry.id}`, created });
    } catch (e) {
      if (e instanceof UserError) return reply.code(400).send({ error: e.message });
      throw e;
    }
  });

  app.get("/healthz", async (_req, reply) => {
    let salOk = true;
    try {
      await sal.store.count();
    } catch {
      salOk = false;
    }
    const h = deps.health();
    return reply.code(salOk ? 200 : 503).send({ status: salOk ? (h.irc.connected ? "ok" : "degraded") : "failing", sal: salOk ? "ok" : "failing", chat: h.irc });
  });

  app.get("/metrics", async (_req, reply) => reply.type("text/plain; version=0.0.4; charset=utf-8").send(deps.metrics()));

  app.get("/help", async (_req, reply) => {
    const rows = deps.commands
      .map((c) => `<tr id="${escapeHtml(c.name)}"><td><code>${escapeHtml(c.usage)}</code></td><td>${escapeHtml(c.summary)}${c.aliases.length ? ` (also ${c.aliases.map((a) => `!${escapeHtml(a)}`).join(", ")})` : ""}</td></tr>`)
      .join("\n");
    return html(reply, 200, layout({ title: "Commands", baseUrl: deps.baseUrl, body: `<h1>Commands</h1><table class="commands"><tbody>${rows}</tbody></table>` }));
  });

  app.get("/reply/:id", async (req, reply) => {
    const lines = deps.replies.get((req.params as { id: string }).id);
    if (!lines) return html(reply, 404, renderNotFound("That reply is no longer kept (the bot keeps the most recent ones).", deps.baseUrl));
    return html(reply, 200, layout({ title: "Reply", baseUrl: deps.baseUrl, body: `<h1>Reply</h1><pre class="reply">${escapeHtml(lines.join("\n"))}</pre>` }));
  });

  app.get("/deploys", async (req, reply) => {
    const q = z.strictObject({ app: z.preprocess(emptyToUndefined, z.string().regex(/^[a-z][a-z0-9-]{0,39}$/).optional()) }).safeParse(req.query);
    if (!q.success) return html(reply, 400, renderNotFound(`Bad filter: ${issues(q.error)}`, deps.baseUrl));
    const list = deps.deploys?.journal.list(q.data.app ?? null, 200) ?? [];
    return html(reply, 200, renderDeployList({ deploys: list, apps: [...(deps.deploys?.apps ?? [])], app: q.data.app ?? null, baseUrl: deps.baseUrl }));
  });

  app.get("/deploys/:id", async (req, reply) => {
    const id = z.coerce.number().int().positive().safeParse((req.params as { id: string }).id);
    const deploy = id.success ? (deps.deploys?.journal.get(id.data) ?? null) : null;
    if (!deploy || !deps.deploys) return html(reply, 404, renderNotFound("No deploy has that number.", deps.baseUrl));
    let range = null;
    let diff = null;
    let rangeError: string | null = null;
    if (deploy.kind === "deploy" && deps.deploys.apps.includes(deploy.app)) {
      try {
        const staging = deps.deploys.staging(deploy.app);
        range = await staging.range(deploy.fromSha, deploy.toSha, { limit: 100 });
        diff = await staging.diff(deploy.fromSha, deploy.toSha, 512 * 1024);
      } catch (e) {
        rangeError = `the commit range is not available: ${(e as Error).message}`;
      }
    } else rangeError = deploy.kind === "rollback" ? "a rollback switches to a release the hosts keep: no new code" : "the app is no longer configured";
    const entries = (await sal.store.search({ deployId: deploy.id, limit: 50 })).entries.reverse();
    const metrics = deps.graphs ? renderVerdicts(deploy.app, deps.verdicts?.(deploy.id) ?? [], deps.config.apps[deploy.app]?.metrics.length ? true : false, Date.parse(deploy.startedAt), deps.baseUrl) : null;
    const steps = deps.deploys.journal.steps(deploy.id);
    const configured = deps.fleetBoard?.grid.app(deploy.app);
    const grid = replayHtml(deploy, steps, replayApp(deploy, steps, configured), deps.deploys.shipped?.(deploy.app) ?? new Map(), Date.now(), sitePath(deps.baseUrl, `/fleet?app=${encodeURIComponent(deploy.app)}`));
    return html(reply, 200, renderDeployPage({ deploy, steps, range, diff, rangeError, sal: entries, rules, baseUrl: deps.baseUrl, grid, alerts: deps.alerts?.store.deployAlerts(deploy.id) ?? [], metrics }));
  });

  // What a deploy would ship (!diff's link): full SHAs only, both looked up in the staging repository,
  // a patched revision shown as its upstream commit (the patches never are).
  app.get("/diff/:app", async (req, reply) => {
    const sha = z.string().regex(/^[0-9a-f]{40}$/, "must be a full 40-digit commit id");
    const q = z.strictObject({ from: z.preprocess(emptyToUndefined, sha.optional()), to: sha }).safeParse(req.query);
    const app = (req.params as { app: string }).app;
    if (!deps.deploys || !deps.deploys.apps.includes(app)) return html(reply, 404, renderNotFound("No app has that name.", deps.baseUrl));
    if (!q.success) return html(reply, 400, renderNotFound(`Bad range: ${issues(q.error)}`, deps.baseUrl));
    const from = q.data.from ?? null;
    try {
      const staging = deps.deploys.staging(app);
      const range = await staging.range(from, q.data.to, { limit: 100 });
      const diff = await staging.diff(from, q.data.to, 512 * 1024);
      return html(reply, 200, renderDiffPage({ app, from, to: q.data.to, range, diff, baseUrl: deps.baseUrl }));
    } catch (e) {
      // Unknown commits are the asker's; a failing or slow git is the server's.
      return html(reply, e instanceof UserError ? 404 : 502, renderNotFound(`The commit range is not available: ${(e as Error).message}`, deps.baseUrl));
    }
  });

  const WINDOWS = ["1h", "6h", "1d", "7d"];
  app.get("/graphs/:app", async (req, reply) => {
    const name = (req.params as { app: string }).app;
    const q = z.strictObject({ window: z.preprocess(emptyToUndefined, z.string().refine((w) => parseWindow(w) !== null, "a window such as 30m, 6h or 2d (at most 7d)").optional()) }).safeParse(req.query);
    if (!q.success) return html(reply, 400, renderNotFound(`Bad window: ${issues(q.error)}`, deps.baseUrl));
    if (!deps.graphs) return html(reply, 404, renderNotFound("No metric source is configured (metrics: in the config).", deps.baseUrl));
    const windowText = q.data.window ?? "6h";
    try {
      const g = await deps.graphs.load(name, parseWindow(windowText)!);
      return html(reply, 200, renderGraphPage(g, windowText, WINDOWS, deps.graphs.dashboards, deps.baseUrl));
    } catch (e) {
      if (e instanceof UserError) return html(reply, 404, renderNotFound(e.message, deps.baseUrl));
      throw e;
    }
  });

  registerFleetRoutes(app, { board: deps.fleetBoard ?? null, baseUrl: () => deps.baseUrl });

  if (deps.alerts) {
    const a = deps.alerts;
    void app.register(alertReceiverRoutes({ ...a, now: () => new Date(), toleranceSec: deps.config.alerts.signatureToleranceSec }));
    app.get("/alerts", async (_req, reply) => html(reply, 200, renderAlertsPage(a.store.firing(), deps.baseUrl)));
  }

  app.setNotFoundHandler((_req, reply) => html(reply, 404, renderNotFound("There is no page here.", deps.baseUrl)));
  return app;
}
export type WebServer = ReturnType<typeof buildWebServer>;
