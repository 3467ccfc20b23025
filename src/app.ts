// createApp: wires the services, the router and the web server around the adapters main.ts built.
// Imports no I/O library itself; adapters (chat, store, web factory) come in as dependencies.

import type { Logger } from "pino";
import { commands as allCommands } from "../commands/index.js";
import { Acl } from "./chat/acl.js";
import type { Command, Links, Services } from "./chat/command.js";
import { splitMessage } from "./chat/format.js";
import type { ChatPort } from "./chat/port.js";
import { Router } from "./chat/router.js";
import type { LoadedConfig } from "./config/load.js";
import type { SalEntry } from "./sal/entry.js";
import { reportChannel } from "./deploys/sal-entries.js";
import { SalFollower } from "./sal/follower.js";
import { SalService } from "./sal/service.js";
import type { SalStore } from "./sal/store.js";
import { BotMetrics } from "./observability/bot-metrics.js";
import { ReplyPages } from "./web/reply-pages.js";
import type { WebDeps } from "./web/server.js";
import { DeployService } from "./deploys/service.js";
import type { DeployEngine, StagingPort } from "./fleet/engine.js";
import type { FleetConnections } from "./fleet/connections.js";
import type { DeployJournal } from "./fleet/journal.js";
import type { RemoteShell } from "./fleet/remote-shell.js";
import { recordLeftOut } from "./fleet/left-out.js";
import { FleetBoard, gridApps, shippedTimes } from "./web/fleet-board.js";
import { JournalFollower } from "./fleet/journal-follower.js";
import type { AlertsDeps } from "./alerts/build.js";
import { AlertAnnouncer } from "./alerts/alert-announcer.js";
import { AlertsService } from "./alerts/alerts-service.js";
import { GraphiteWatch } from "./alerts/graphite-watch.js";
import { DeployLinker } from "./alerts/deploy-link.js";
import { UserError } from "./errors.js";
import type { MetricAdapters } from "./metrics/build.js";
import { DeployMetrics, VerdictBook } from "./metrics/deploy-watch.js";
import { loadGraphs, type GraphsPort } from "./metrics/graphs.js";
import { DeployMarkers } from "./metrics/markers.js";

export interface WebServerLike {
  listen(opts: { host: string; port: number }): Promise<string>;
  close(): Promise<unknown>;
  readonly server: { address(): unknown };
}

export interface AppDeps {
  readonly loaded: LoadedConfig;
  readonly chat: ChatPort;
  readonly store: SalStore;
  readonly log: Logger;
  readonly metrics: BotMetrics;
  readonly web: (deps: WebDeps) => WebServerLike;
  /** Public URL of the web UI; derived from the listening address when the config has none. */
  readonly baseUrl?: string;
  readonly commands?: readonly Command[];
  /** Called once the web server listens, before the chat starts (the terminal banner). */
  readonly onListening?: (url: string) => void;
  /** The fleet side (engine and journal), when apps are configured. */
  readonly fleet?: {
    readonly engine: DeployEngine;
    readonly journal: DeployJournal;
    readonly staging: (app: string) => StagingPort;
    /** Keeps the fleet connected while the bot runs (src/fleet/connections.ts); started with the bot. */
    readonly connections?: FleetConnections | null;
    /** Open SSH connections and handshakes made, for /metrics. */
    readonly shell?: Pick<RemoteShell, "connectionStats">;
    close(): Promise<void>;
  } | null;
  /** The alert store (and Alertmanager's API for silences); receivers, announcements and !alerts. */
  readonly alerts?: AlertsDeps | null;
  /** Metric sources and marker targets (src/metrics/build.ts), when the config has a metrics section. */
  readonly metricAdapters?: MetricAdapters | null;
  /** Test knobs for pacing; production uses the defaults. */
  readonly deployTiming?: { readonly progressEveryMs?: number; readonly gateAnswerSec?: number; readonly confirmSec?: number };
}

export interface App {
  start(): Promise<{ url: string }>;
  stop(reason?: string): Promise<void>;
  readonly sal: SalService;
  readonly router: Router;
  readonly metrics: BotMetrics;
  url(): string;
}

/** The IRC line announcing an entry written by a script or a deploy. */
export function announcement(entry: SalEntry, link: string): string {
  const via = entry.identity && entry.identity !== entry.nick ? ` (via ${entry.identity})` : "";
  const project = entry.project ? `[${entry.project}] ` : "";
  return `SAL: ${entry.nick}${via}: ${project}${entry.message} <${link}>`;
}

export function createApp(deps: AppDeps): App {
  const { config, secrets } = deps.loaded;
  const { chat, log, metrics } = deps;
  const commands = deps.commands ?? allCommands;
  let baseUrl = deps.baseUrl ?? config.web.publicUrl?.replace(/\/+$/, "") ?? "";

  const entriesWritten = metrics.counter("tugboat_sal_entries_written_total", "SAL entries written, by source.");
  const commandsRun = metrics.counter("tugboat_commands_total", "Chat commands handled, by command and outcome.");
  const refused = metrics.counter("tugboat_commands_refused_total", "Chat commands refused by permissions, by command.");
  const alertsReceived = metrics.counter("tugboat_alert_notifications_total", "Alert notifications stored, by receiver and status.");
  const watchEvaluations = metrics.counter("tugboat_watch_evaluations_total", "Graphite watch rule evaluations, by rule and outcome (ok, failed).");
  const alertsRefused = metrics.counter("tugboat_alert_requests_refused_total", "Alert webhook requests refused, by receiver and HTTP status.");
  metrics.gauge("tugboat_chat_connected", "1 while the bot is connected to the chat network and in its channels.", () => (chat.status().connected ? 1 : 0));
  metrics.gauge("tugboat_chat_on_primary_nick", "1 while the bot holds its primary nick (it ignores commands otherwise).", () => (chat.status().onPrimaryNick ? 1 : 0));
  metrics.gauge("tugboat_outbound_queue_depth", "Lines waiting in the outbound (flood-paced) queue.", () => chat.status().queueDepth);
  metrics.gauge("tugboat_outbound_lines_dropped_total", "Outbound lines dropped because they expired during an outage.", () => chat.status().linesDropped);
  const shellStats = deps.fleet?.shell;
  if (shellStats) {
    metrics.gauge("tugboat_fleet_connections_open", "SSH connections to fleet hosts open now.", () => shellStats.connectionStats().open);
    metrics.gauge("tugboat_fleet_handshakes_total", "SSH handshakes completed with fleet hosts since the bot started.", () => shellStats.connectionStats().made);
  }

  const sal = new SalService(deps.store, config.sal, (source) => entriesWritten({ source }));
  const replies = new ReplyPages(baseUrl);
  const links: Links = {
    entry: (id) => `${baseUrl}/log/${id}`,
    home: () => `${baseUrl}/`,
    help: (command) => `${baseUrl}/help${command ? `#${command}` : ""}`,
    diff: (app, from, to) => `${baseUrl}/diff/${encodeURIComponent(app)}?${from ? `from=${from}&` : ""}to=${to}`,
  };
  const acl = new Acl(config);
  const fleet = deps.fleet;
  const board = fleet
    ? new FleetBoard({ apps: gridApps(config), census: (app, signal) => fleet.engine.census(app, signal), shipped: (app) => shippedTimes(fleet.journal, app), log: log.child({ component: "fleet-board" }), now: () => Date.now() })
    : null;
  // Deploys run by other processes (`tugboat deploy` in a terminal) reach the board through the journal.
  const follower =
    board && fleet
      ? new JournalFollower({
          journal: fleet.journal, apps: gridApps(config).map((a) => ({ name: a.name, hosts: a.hosts.length, restart: a.restart, smoke: a.smoke })),
          owns: (id) => board.owns(id), emit: (e) => board.onEvent(e, "journal"), log: log.child({ component: "journal-follower" }),
        })
      : null;
  const reportTo = reportChannel(config);
  const announceDeploy = (channel: string, text: string) => {
    for (const line of splitMessage(text, chat.budget(channel, true)).slice(0, 4)) chat.send(channel, line, { notice: true, kind: "deploy" });
  };
  // Metrics: markers for every deploy and rollback, the verdict after each deploy, the canary metric gate.
  const adapters = deps.metricAdapters ?? null;
  const verdicts = new VerdictBook();
  const graphsUrl = (app: string, window?: string) => `${baseUrl}/graphs/${app}${window ? `?window=${window}` : ""}`;
  let deploys: DeployService | null = null;
  const watcher =
    deps.fleet && adapters
      ? new DeployMetrics({
          config, sources: adapters.sources, book: verdicts, sal, announce: announceDeploy, now: () => Date.now(),
          markers: new DeployMarkers(adapters.annotators, log.child({ component: "markers" }), metrics.counter("tugboat_deploy_markers_total", "Deploy markers posted, by target and outcome (ok, refused, timeout, http...).")),
          log: log.child({ component: "metrics" }),
          rollback: (op, reason) => deploys!.rollback(op.app, undefined, reason, op.by, op.channel),
          sleep: (ms, signal) => new Promise((resolve, reject) => {
            if (signal.aborted) return reject(new Error("stopping"));
            const t = setTimeout(resolve, ms);
            signal.addEventListener("abort", () => (clearTimeout(t), reject(new Error("stopping"))), { once: true });
          }),
          deployUrl: (id) => `${baseUrl}/deploys/${id}`,
          graphsUrl: (app) => graphsUrl(app),
          countVerdict: metrics.counter("tugboat_metric_verdicts_total", "Metric verdicts reached, by app, stage (canary, after) and verdict."),
        })
      : null;
  const marksOf = (app: string) => (deps.fleet?.journal.list(app, 200) ?? []).map((d) => ({ id: d.id, kind: d.kind, at: Date.parse(d.startedAt), state: d.state }));
  const graphs: GraphsPort | null = adapters
    ? {
        load: (app, windowMs, signal) => {
          const cfg = config.apps[app];
          if (!cfg) throw new UserError(`no app "${app}" (apps: ${Object.keys(config.apps).join(", ") || "none configured"})`);
          if (cfg.metrics.length === 0) throw new UserError(`${app} has no metrics (apps.${app}.metrics in the config)`);
          const to = Date.now();
          return loadGraphs(app, cfg, adapters.sources, marksOf(app), to - windowMs, to, signal);
        },
        url: graphsUrl,
        dashboards: [
          ...(config.metrics.graphite?.dashboardUrl ? [{ name: "Graphite", url: config.metrics.graphite.dashboardUrl }] : []),
          ...(config.metrics.grafana?.dashboardUrl ? [{ name: "Grafana", url: config.metrics.grafana.dashboardUrl }] : []),
        ],
      }
    : null;
  deploys = deps.fleet
    ? new DeployService({
        engine: deps.fleet.engine,
        journal: deps.fleet.journal,
        sal,
        log: log.child({ component: "deploys" }),
        announce: announceDeploy,
        watcher,
        deployUrl: (id) => `${baseUrl}/deploys/${id}`,
        now: () => Date.now(),
        confirm: (app) => config.apps[app]?.confirm ?? false,
        confirmSec: 60,
        gateAnswerSec: deps.deployTiming?.gateAnswerSec ?? 300,
        progressEveryMs: deps.deployTiming?.progressEveryMs ?? 30_000,
        isAdmin: (who, channel) => {
          const m = /^([^!]*)!([^@]*)@(.*)$/.exec(who.mask);
          const sender = { nick: who.nick, user: m?.[2] ?? "", host: m?.[3] ?? "", account: who.account };
          return acl.check("deploy-admin", channel, sender, { allow: "admin" in config.roles ? ["role:admin"] : [], deny: [] }).allowed;
        },
        onEvent: (e) => {
          recordLeftOut(deps.fleet!.journal, e);
          board?.onEvent(e);
        },
      })
    : null;
  const alertsUrl = () => `${baseUrl}/alerts`;
  const alerts = deps.alerts
    ? {
        service: new AlertsService(deps.alerts.store, deps.alerts.silences, sal, () => new Date(), alertsUrl),
        announcer: new AlertAnnouncer({
          store: deps.alerts.store,
          chat,
          config: config.alerts,
          defaultChannels: config.alerts.defaultChannels.length ? config.alerts.defaultChannels : reportTo ? [reportTo] : [],
          linker: deps.fleet ? new DeployLinker(deps.fleet.journal, config.alerts.deployWindowSec, config.alerts.appLabels, config.fleet.transport === "ssh" ? Object.fromEntries(config.fleet.hosts.map((h) => [h.address, h.name])) : {}) : null,
          alertsUrl,
          clock: { now: () => Date.now(), setInterval: (fn, ms) => setInterval(fn, ms), clearInterval: (h) => clearInterval(h as NodeJS.Timeout) },
          log: log.child({ component: "alerts" }),
        }),
        watch: config.alerts.watch.length
          ? new GraphiteWatch({
              rules: config.alerts.watch,
              urlOf: (rule) => rule.url ?? config.metrics.graphite?.url ?? "",
              source: deps.alerts.graphite,
              publish: (ns) => {
                deps.alerts!.store.record(ns);
                ns.forEach((n) => alertsReceived({ receiver: n.receiver, status: n.status }));
              },
              firing: () => deps.alerts!.store.firing(),
              clock: { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
              log: log.child({ component: "watch" }),
              onEvaluated: (rule, outcome) => watchEvaluations({ rule, outcome }),
            })
          : null,
      }
    : null;
  const services: Services = { config, sal, links, commands, deploys, acl, alerts: alerts?.service ?? null, graphs };
  const channels = config.chat === "irc" ? (config.irc?.channels ?? []) : [config.console.channel];
  const router = new Router({
    chat,
    commands,
    services,
    acl,
    log: log.child({ component: "router" }),
    channels,
    ignore: config.irc?.ignore ?? [],
    timeoutMs: config.commandTimeoutMs,
    maxLinesPerReply: config.irc?.maxLinesPerReply ?? 4,
    keepReply: (lines) => replies.add(lines),
    onOutcome: (command, outcome) => {
      commandsRun({ command, outcome });
      if (outcome === "refused") refused({ command });
    },
  });
  chat.onMessage((m) => router.handle(m));

  // Entries from scripts and deploys are announced; IRC entries were typed in the channel already.
  const announceEntry = (entry: SalEntry) => {
    // IRC entries were typed in the channel already; deploys announce themselves in their own words.
    if (entry.source === "irc" || entry.source === "console" || entry.source === "deploy" || !entry.channel) return;
    const text = announcement(entry, links.entry(entry.id));
    for (const line of splitMessage(text, chat.budget(entry.channel, true)).slice(0, 3)) chat.send(entry.channel, line, { notice: true, kind: "sal" });
  };
  sal.onEntry(announceEntry);
  // What other processes write to the same SAL (deploys from a terminal) is announced too.
  const salFollower = new SalFollower({ sal, announce: announceEntry, log: log.child({ component: "sal-follower" }), everyMs: 1000 });

  const web = deps.web({
    config,
    get baseUrl() {
      return baseUrl;
    },
    sal,
    apiTokens: secrets.apiTokens,
    commands,
    replies,
    log: log.child({ component: "web" }),
    metrics: () => metrics.render(),
    health: () => ({ irc: chat.status() }),
    defaultChannel: Object.keys(config.sal.channels)[0] ?? null,
    deploys: deps.fleet ? { journal: deps.fleet.journal, apps: Object.keys(config.apps), staging: deps.fleet.staging, shipped: (app) => shippedTimes(deps.fleet!.journal, app) } : null,
    fleetBoard: board,
    alerts: deps.alerts
      ? {
          store: deps.alerts.store, receivers: config.alerts.receivers, secrets: secrets.alertReceivers ?? [],
          onStored: (ns) => ns.forEach((n) => alertsReceived({ receiver: n.receiver, status: n.status })),
          onRefused: (receiver, status) => alertsRefused({ receiver, status: String(status) }),
        }
      : null,
    graphs,
    verdicts: (id) => verdicts.get(id),
  });

  return {
    sal,
    router,
    metrics,
    url: () => baseUrl,
    async start() {
      await web.listen({ host: config.web.host, port: config.web.port });
      if (!baseUrl) {
        const addr = web.server.address() as { address: string; port: number };
        const host = addr.address.includes(":") ? `[${addr.address}]` : addr.address;
        baseUrl = `http://${host}:${addr.port}`;
      }
      deps.onListening?.(baseUrl);
      await chat.start();
      alerts?.announcer.start();
      alerts?.watch?.start();
      follower?.start();
      await salFollower.start();
      // The fleet is connected in the background: the bot answers while 200 handshakes are under way.
      void deps.fleet?.connections?.start().catch((e: unknown) => log.error({ err: e }, "could not connect to the fleet"));
      if (deploys && reportTo) void deploys.recover(reportTo).catch((e: unknown) => log.error({ err: e }, "could not report interrupted deploys"));
      log.info({ url: baseUrl, chat: chat.name }, "tugboat started");
      return { url: baseUrl };
    },
    async stop(reason) {
      await router.settle();
      await alerts?.watch?.stop();
      alerts?.announcer.stop();
      await deploys?.settle();
      await watcher?.close();
      await salFollower.stop();
      await chat.stop(reason);
      follower?.stop();
      await board?.close();
      await web.close();
      await deps.fleet?.close();
      await deps.store.close();
      deps.alerts?.store.close();
    },
  };
}
