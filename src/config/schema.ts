// The configuration schema: the single source of the config's types and defaults.
// Every object is strict (unknown keys are errors); cross-references are checked in superRefine.

import { z } from "zod";
import { parseDuration } from "../alerts/silence-args.js";

/** A secret is never written in the config itself: it names an environment variable or a file. */
export const SecretRef = z.union([
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name") }),
  z.strictObject({ file: z.string().min(1) }),
]);
export type SecretRef = z.infer<typeof SecretRef>;

const channelName = z.string().regex(/^[#&][^\s,\x07]{1,49}$/, "a channel name such as #operations");
const nickName = z.string().regex(/^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]{0,29}$/, "an IRC nick");

/**
 * Who a rule applies to. `anyone`; `identified` (logged in to services);
 * `role:NAME`; `account:NAME` (services account); `mask:nick!user@host` (glob with * and ?).
 */
export const Principal = z
  .string()
  .regex(/^(anyone|identified|role:[\w.-]+|account:\S+|mask:\S+!\S+@\S+)$/, "anyone, identified, role:NAME, account:NAME or mask:nick!user@host");

const Rule = z.strictObject({
  allow: z.array(Principal).default([]),
  deny: z.array(Principal).default([]),
});
export type Rule = z.infer<typeof Rule>;

const PermissionSchema = Rule.extend({
  /** Per-channel rules replace the command's rule in that channel ("private" for private messages). */
  channels: z.record(z.string(), Rule).default({}),
});
export type Permission = z.infer<typeof PermissionSchema>;

const IrcSchema = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(6697),
  tls: z.boolean().default(true),
  /** Verify the server's TLS certificate (turn off only for a test network). */
  tlsVerify: z.boolean().default(true),
  password: SecretRef.optional(),
  nick: nickName.default("tugboat"),
  /** Nicks to take while the primary is in use; the bot keeps trying to regain the primary. */
  altNicks: z.array(nickName).default([]),
  username: z.string().regex(/^[^\s@]{1,10}$/).default("tugboat"),
  realname: z.string().min(1).default("tugboat deploy bot"),
  sasl: z.strictObject({ account: z.string().min(1), password: SecretRef }).optional(),
  /** NickServ IDENTIFY, used when SASL is not configured or the server does not offer it. */
  nickserv: z.strictObject({ account: z.string().min(1).optional(), password: SecretRef, service: z.string().default("NickServ") }).optional(),
  channels: z.array(channelName).min(1),
  /** Never answer these (other bots): masks nick!user@host. */
  ignore: z.array(z.string().regex(/^\S+!\S+@\S+$/, "a mask nick!user@host")).default([]),
  flood: z
    .strictObject({
      burst: z.number().int().min(1).max(20).default(4),
      intervalMs: z.number().int().min(0).max(10_000).default(1000),
    })
    .prefault({}),
  /** Lines queued while disconnected are dropped after this long. */
  lineLifetimeSec: z.number().int().min(1).default(300),
  maxLinesPerReply: z.number().int().min(1).max(50).default(4),
  reconnect: z
    .strictObject({
      minDelayMs: z.number().int().min(10).default(1000),
      maxDelayMs: z.number().int().min(100).default(120_000),
      /** A connection that stays up this long resets the backoff. */
      stableAfterMs: z.number().int().min(100).default(60_000),
    })
    .prefault({}),
  regainNickEveryMs: z.number().int().min(100).default(30_000),
  connectTimeoutMs: z.number().int().min(100).default(15_000),
});

const ConsoleSchema = z.strictObject({
  nick: nickName.default("you"),
  channel: channelName.default("#operations"),
});

const SalChannelSchema = z.strictObject({
  /** `!log PROJECT message`: the first word must be one of sal.projects. */
  requireProject: z.boolean().default(false),
});

const SalSchema = z.strictObject({
  channels: z.record(channelName, SalChannelSchema).default({}),
  projects: z.array(z.string().regex(/^[\w.-]{1,64}$/)).default([]),
  maxLength: z.number().int().min(10).max(10_000).default(1000),
  /** Task ids linkified on the web and stored on the entry, e.g. T1234. */
  taskPattern: z.string().default("\\bT\\d{1,9}\\b"),
  taskUrl: z.string().url().nullable().default(null),
  commitUrl: z.string().url().nullable().default(null),
});

const ApiTokenSchema = z.strictObject({
  /** Recorded as the entry's identity, e.g. l10nupdate@deploy1001. */
  name: z.string().regex(/^[\w.@-]{1,100}$/),
  token: SecretRef,
});

const WebSchema = z.strictObject({
  host: z.string().default("127.0.0.1"),
  port: z.number().int().min(0).max(65535).default(8080),
  /** The URL people reach the web UI at; permalinks in IRC use it. */
  publicUrl: z.string().url().optional(),
  pageSize: z.number().int().min(1).max(1000).default(100),
  bodyLimitBytes: z.number().int().min(1024).max(10_485_760).default(65_536),
});

const amount = z.union([z.number().int().min(0), z.string().regex(/^\d{1,3}%$/, "a count or a percentage such as 25%")]) as z.ZodType<number | `${number}%`>;
const hostName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/, "a host name (letters, digits, dots, dashes)");
const appName = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "an app name (lower-case letters, digits, dashes)");

const HostSchema = z.strictObject({
  name: hostName,
  /** IP or DNS name; for the local transport, ignored. */
  address: z.string().min(1).default("127.0.0.1"),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "a Unix user name").optional(),
  groups: z.array(z.string().regex(/^[\w.-]+$/)).default([]),
});

const FleetSchema = z.strictObject({
  /** ssh: OpenSSH servers (production); local: directories on this machine (the demo fleet). */
  transport: z.enum(["ssh", "local"]).default("ssh"),
  /** For the local transport: each host's root is ROOT/NAME (relative to the data directory). */
  localRoot: z.string().default("demo-fleet"),
  ssh: z
    .strictObject({
      user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/).default("deploy"),
      /** A private key file (as a secret reference); without it the ssh-agent (SSH_AUTH_SOCK) is used. */
      privateKey: SecretRef.optional(),
      knownHosts: z.string().min(1).default("known_hosts"),
      handshakeTimeoutMs: z.number().int().min(100).default(10_000),
      keepaliveIntervalMs: z.number().int().min(0).default(10_000),
      keepaliveCountMax: z.number().int().min(1).default(3),
      /** SSH handshakes in flight at once (OpenSSH's MaxStartups refuses beyond ~10 per server). */
      maxHandshakes: z.number().int().min(1).max(256).default(24),
      /**
       * The bot connects to every host its apps target when it starts, and keeps the connections (a
       * deploy then pays no handshake: ~100 ms of a host's CPU each). Terminal commands never do.
       */
      keepConnected: z.boolean().default(true),
      /** How often the bot connects again to hosts whose connection is gone; 0: only at start. */
      reconnectSec: z.number().int().min(0).max(86_400).default(300),
    })
    .prefault({}),
  hosts: z.array(HostSchema).default([]),
});

const SmokeSchema = z.strictObject({
  /** {host}, {address} and {sha} are replaced, e.g. http://{address}:8080/healthz */
  url: z.string().regex(/^https?:\/\//, "an http(s) URL"),
  status: z.number().int().min(100).max(599).default(200),
  /** Text the body must contain, e.g. {sha}. */
  contains: z.string().optional(),
  timeoutMs: z.number().int().min(100).default(5000),
});

const MetricSchema = z.strictObject({
  /** Shown in the channel and on the graph page, e.g. "error ratio". */
  name: z.string().regex(/^[\w .%/-]{1,40}$/, "a short metric name (letters, digits, spaces, . % / -)"),
  source: z.enum(["graphite", "prometheus"]),
  /** A Graphite target or a PromQL expression returning one series. */
  query: z.string().min(1).max(2000),
  /** The same for one host: {host} is replaced by the host's name (compares canaries with the hosts not yet deployed). */
  perHostQuery: z.string().min(1).max(2000).refine((q) => q.includes("{host}"), "must contain {host}").optional(),
  unit: z.string().max(16).default(""),
  /** Which direction is worse: up (errors, latency) or down (throughput, success ratio). */
  worse: z.enum(["up", "down"]),
  /** Absolute limits: any after-deploy median beyond them is WORSE, whatever the test says. */
  guardrail: z.strictObject({ max: z.number().optional(), min: z.number().optional() }).refine((g) => g.max !== undefined || g.min !== undefined, "give max, min or both").optional(),
});
export type MetricConfig = z.infer<typeof MetricSchema>;

const VerdictSchema = z.strictObject({
  /** After a deploy, wait this long, then compare it with as long before the deploy. */
  windowMin: z.number().min(0.05).max(240).default(5),
  /** WORSE after a full deploy: roll back at once, or recommend `!rollback APP` with the evidence. */
  onWorse: z.enum(["rollback", "recommend"]).default("recommend"),
  /** After the canaries: judge them this long (0: no metric gate). */
  canaryWindowMin: z.number().min(0).max(60).default(0),
  /** WORSE at the canary gate: ask in the channel (!retry/!continue/!rollback/!abort) or roll back. */
  canaryOnWorse: z.enum(["ask", "rollback"]).default("ask"),
  /** A change smaller than this fraction of the baseline median is not a change (Kayenta's tolerance). */
  tolerance: z.number().min(0).max(10).default(0.25),
  /** Two-sided confidence of the rank test (0.99 keeps false alarms near 1%; test/unit/judge.test.ts measures it). */
  confidence: z.number().min(0.5).max(0.9999).default(0.99),
  /** Fewer points than this on either side is NO DATA. */
  minPoints: z.number().int().min(3).max(10_000).default(10),
  stepSec: z.number().int().min(1).max(3600).default(10),
  /** Points from the first seconds after a switch are not judged: until the metrics system has scraped
   * (Prometheus) or flushed (Graphite) the new release at least once, its newest point is still the old
   * release's. Set it to your scrape interval or finest retention, or more. */
  settleSec: z.number().int().min(0).max(3600).default(30),
});
export type VerdictConfig = z.infer<typeof VerdictSchema>;

const MetricsSchema = z.strictObject({
  graphite: z.strictObject({ url: z.string().url(), timeoutMs: z.number().int().min(100).max(120_000).default(10_000), dashboardUrl: z.string().url().optional() }).optional(),
  prometheus: z.strictObject({ url: z.string().url(), timeoutMs: z.number().int().min(100).max(120_000).default(10_000) }).optional(),
  /** Annotations on a Grafana as well (its API token is a secret reference). */
  grafana: z.strictObject({ url: z.string().url(), token: SecretRef, timeoutMs: z.number().int().min(100).max(120_000).default(10_000), dashboardUrl: z.string().url().optional() }).optional(),
  /** Deploy markers (Graphite events, Grafana annotations): on wherever a Graphite URL is configured. */
  markers: z.boolean().default(true),
  /** A series whose newest value is older than this (before the window's end) is lagging: NO DATA. */
  maxLagSec: z.number().int().min(1).max(3600).default(120),
});
export type MetricsConfig = z.infer<typeof MetricsSchema>;

const AppSchema = z.strictObject({
  /** The repository the deploy host fetches from: a git URL or a path. */
  repo: z.string().min(1),
  branch: z.string().min(1).default("main"),
  /** The same path on every host. */
  deployPath: z.string().regex(/^\/[\w./-]+$/, "an absolute path").refine((p) => !p.split("/").includes(".."), "no .. in the path"),
  /** Host names or group names this app deploys to. */
  targets: z.array(z.string().min(1)).min(1),
  canaries: z.array(hostName).default([]),
  batchSize: amount.default("25%"),
  failureBudget: amount.default("10%"),
  /** What to do when a stage goes over its failure budget (or a gate fails): roll back switched hosts, or stop where it is. */
  onFailure: z.enum(["rollback", "stop"]).default("rollback"),
  /** Hosts working at once. */
  concurrency: z.number().int().min(1).max(512).default(32),
  keep: z.number().int().min(2).max(100).default(5),
  umask: z.string().regex(/^0?[0-7]{3}$/, "an octal umask such as 022").default("022"),
  /** Run in the new release after the switch (operator configuration, never user text). */
  restart: z.string().nullable().default(null),
  smoke: z.array(SmokeSchema).default([]),
  /** Deploys wait for `!yes` from the same account (within 60 s) before anything starts. */
  confirm: z.boolean().default(false),
  /** Private directory of *.patch files applied on top of every deploy. */
  securityPatches: z.string().nullable().default(null),
  timeouts: z
    .strictObject({
      prepareSec: z.number().int().min(1).default(300),
      /** The switch (and pruning); it runs in one step with the restart: a hung restart is killed at promoteSec + restartSec. */
      promoteSec: z.number().int().min(1).default(10),
      restartSec: z.number().int().min(1).default(120),
      censusSec: z.number().int().min(1).default(20),
      gitSec: z.number().int().min(1).default(120),
    })
    .prefault({}),
  /** Metrics judged after each deploy (and at the canary gate), and drawn by !graphs. */
  metrics: z.array(MetricSchema).default([]),
  verdict: VerdictSchema.prefault({}),
});
export type AppConfig = z.infer<typeof AppSchema>;
/** Alert receivers, routing and announcement pacing (src/alerts/). */
/** The receiver name under which watch rules' alerts are stored. */
export const WATCH_RECEIVER = "watch";
const labelName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a label name");
const AlertReceiverSchema = z.strictObject({
  /** POST /api/alerts/NAME */
  name: z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "a receiver name (lower-case letters, digits, dashes)"),
  /** alertmanager: webhook payload version 4; generic: tugboat's JSON (Icinga's script posts it). */
  kind: z.enum(["alertmanager", "generic"]),
  /** Authorization: Bearer TOKEN, or X-Tugboat-Signature: t=UNIX,v1=HMAC-SHA256(secret, "UNIX.BODY") in hex. */
  auth: z.union([z.strictObject({ bearer: SecretRef }), z.strictObject({ hmac: SecretRef })]),
});
const AlertRouteSchema = z.strictObject({
  /** Every label must equal its value (in the alert group's common labels); {} matches all. */
  match: z.record(labelName, z.string()).default({}),
  channels: z.array(channelName).min(1),
  /** Keep looking at later routes after this one matched. */
  continue: z.boolean().default(false),
});
/** 90s, 5m, 1h30m, 7d (s, m, h, d, w; 0 for none), as milliseconds. */
const duration = (minMs: number) =>
  z.union([z.number(), z.string()]).transform((t, ctx) => {
    const ms = t === 0 || t === "0" ? 0 : typeof t === "string" ? parseDuration(t) : null;
    if (ms === null) ctx.addIssue({ code: "custom", message: `${JSON.stringify(t)} is not a duration such as 30s, 5m, 1h or 7d` });
    else if (ms < minMs) ctx.addIssue({ code: "custom", message: `${t} is shorter than the minimum, ${minMs / 1000}s` });
    return ms ?? 0;
  });
const WatchRuleSchema = z
  .strictObject({
    /** The alertname of what it announces. */
    name: z.string().regex(/^[A-Za-z_][\w.-]{0,63}$/, "an alert name (letters, digits, _ . -)"),
    /** Another Graphite than metrics.graphite (its render API). */
    url: z.string().regex(/^https?:\/\//, "an http(s) URL").optional(),
    /** A Graphite target; it may return several series (one alert each). */
    target: z.string().min(1).max(2000),
    threshold: z.strictObject({ above: z.number().optional(), below: z.number().optional() }).refine((t) => t.above !== undefined || t.below !== undefined, "give above, below or both").optional(),
    /** Graphite's holtWintersConfidenceBands(target, delta, bootstrap, seasonality): outside the band is a breach. */
    band: z
      .strictObject({
        kind: z.literal("holt-winters"),
        // graphite-web 1.1 declares delta an integer parameter.
        delta: z.number().int("a whole number (graphite-web 1.1 takes an integer delta)").min(1).max(100).default(3),
        /** History Graphite learns from before the window (its bootstrapInterval). */
        bootstrap: duration(60_000).default(604_800_000),
        seasonality: duration(60_000).default(86_400_000),
      })
      .optional(),
    /** How long the breach (or the lack of data) must last before it is announced; 0 at once. */
    for: duration(0).default(300_000),
    interval: duration(1000).default(60_000),
    /** The newest point may be this old; none newer is NO DATA. */
    lookback: duration(10_000).default(300_000),
    timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    severity: z.string().regex(/^[a-z]{1,20}$/, "a severity such as critical or warning").default("warning"),
    /** Routing (alerts.routes) and deploy correlation (alerts.appLabels) read these. */
    labels: z.record(labelName, z.string().max(200)).default({}),
    /** The dot-separated node of a series name that names its host (0-based), e.g. 1 for servers.web01.load. */
    instanceNode: z.number().int().min(0).max(50).optional(),
    summary: z.string().min(1).max(300).optional(),
    runbook: z.string().regex(/^https?:\/\//, "an http(s) URL").optional(),
    /** nodata: announce NO DATA as its own state after `for`; firing: no data counts as a breach. */
    noData: z.enum(["nodata", "firing"]).default("nodata"),
  })
  .superRefine((r, ctx) => {
    if (!r.threshold === !r.band) ctx.addIssue({ code: "custom", path: ["threshold"], message: "give either threshold {above|below} or band {kind: holt-winters}" });
    if (r.timeoutMs >= r.interval) ctx.addIssue({ code: "custom", path: ["timeoutMs"], message: `must be shorter than the interval (${r.interval / 1000}s)` });
  });
export type WatchRule = z.infer<typeof WatchRuleSchema>;

const AlertsSchema = z.strictObject({
  receivers: z.array(AlertReceiverSchema).default([]),
  /** First match wins (unless continue); groups no route matches go to defaultChannels. */
  routes: z.array(AlertRouteSchema).default([]),
  /** Default: the first IRC channel (or the console channel). */
  defaultChannels: z.array(channelName).default([]),
  /** An unchanged firing group is not announced again within this time; a resolution is announced once. */
  dedupeSec: z.number().int().min(0).default(3600),
  /** Notifications arriving within this time are announced together (a storm costs a few lines). */
  gatherMs: z.number().int().min(0).max(60_000).default(2000),
  /** Lines per announcement round per channel; past it, one `+N more` summary line. */
  maxLinesPerRound: z.number().int().min(2).max(10).default(4),
  /** An alert starting within this time after a deploy (on its hosts or its app's labels) names the deploy. */
  deployWindowSec: z.number().int().min(0).default(1800),
  /** Per app: labels that mark its alerts, e.g. {service: api}. */
  appLabels: z.record(appName, z.record(labelName, z.string())).default({}),
  /** Signed requests (auth.hmac) older or newer than this are refused; a signature is accepted once. */
  signatureToleranceSec: z.number().int().min(10).max(3600).default(300),
  /** Graphite watch rules the bot evaluates itself (src/alerts/graphite-watch.ts). */
  watch: z.array(WatchRuleSchema).default([]),
  /** Alertmanager's API for !silence and !unsilence. */
  alertmanager: z
    .strictObject({ url: z.string().regex(/^https?:\/\//, "an http(s) URL"), timeoutMs: z.number().int().min(100).max(60_000).default(5000), bearer: SecretRef.optional() })
    .optional(),
});
export type AlertsConfig = z.infer<typeof AlertsSchema>;

export type HostConfig = z.infer<typeof HostSchema>;
export type FleetConfig = z.infer<typeof FleetSchema>;

export const ConfigSchema = z
  .strictObject({
    chat: z.enum(["console", "irc"]).default("console"),
    irc: IrcSchema.optional(),
    console: ConsoleSchema.prefault({}),
    /** Services accounts and masks grouped under a name; rules refer to them as role:NAME. */
    roles: z.record(z.string().regex(/^[\w.-]+$/), z.array(Principal)).default({}),
    /** Per permission name (each command names its permission). Missing ones use the command's default. */
    permissions: z.record(z.string(), PermissionSchema).default({}),
    commandTimeoutMs: z.number().int().min(10).default(30_000),
    sal: SalSchema.prefault({}),
    api: z.strictObject({ tokens: z.array(ApiTokenSchema).default([]) }).prefault({}),
    web: WebSchema.prefault({}),
    fleet: FleetSchema.prefault({}),
    apps: z.record(appName, AppSchema).default({}),
    alerts: AlertsSchema.prefault({}),
    metrics: MetricsSchema.prefault({}),
    log: z.strictObject({ level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info") }).prefault({}),
  })
  .superRefine((config, ctx) => {
    if (config.chat === "irc" && !config.irc) {
      ctx.addIssue({ code: "custom", path: ["irc"], message: "chat is irc, so an irc section is required" });
    }
    const principals: Array<[string, (string | number)[]]> = [];
    for (const [name, members] of Object.entries(config.roles)) {
      members.forEach((p, i) => principals.push([p, ["roles", name, i]]));
    }
    for (const [name, perm] of Object.entries(config.permissions)) {
      for (const list of ["allow", "deny"] as const) {
        perm[list].forEach((p, i) => principals.push([p, ["permissions", name, list, i]]));
        for (const [chan, rule] of Object.entries(perm.channels)) {
          rule[list].forEach((p, i) => principals.push([p, ["permissions", name, "channels", chan, list, i]]));
        }
      }
    }
    for (const [p, path] of principals) {
      const role = /^role:(.+)$/.exec(p)?.[1];
      if (role !== undefined && !(role in config.roles)) {
        ctx.addIssue({ code: "custom", path, message: `unknown role "${role}" (defined roles: ${Object.keys(config.roles).join(", ") || "none"})` });
      }
    }
    const names = new Set<string>();
    config.api.tokens.forEach((t, i) => {
      if (names.has(t.name)) ctx.addIssue({ code: "custom", path: ["api", "tokens", i, "name"], message: `duplicate token name "${t.name}"` });
      names.add(t.name);
    });
    const hostNames = new Set(config.fleet.hosts.map((h) => h.name));
    const groups = new Set(config.fleet.hosts.flatMap((h) => h.groups));
    config.fleet.hosts.forEach((h, i) => {
      if (config.fleet.hosts.findIndex((o) => o.name === h.name) !== i) ctx.addIssue({ code: "custom", path: ["fleet", "hosts", i, "name"], message: `duplicate host "${h.name}"` });
    });
    for (const [name, app] of Object.entries(config.apps)) {
      app.targets.forEach((t, i) => {
        if (!hostNames.has(t) && !groups.has(t)) ctx.addIssue({ code: "custom", path: ["apps", name, "targets", i], message: `"${t}" is neither a host nor a group in fleet.hosts` });
      });
      app.canaries.forEach((c, i) => {
        if (!hostNames.has(c)) ctx.addIssue({ code: "custom", path: ["apps", name, "canaries", i], message: `unknown host "${c}"` });
      });
      app.metrics.forEach((m, i) => {
        if (!config.metrics[m.source]) ctx.addIssue({ code: "custom", path: ["apps", name, "metrics", i, "source"], message: `${m.source} has no URL in metrics.${m.source}` });
        if (app.metrics.findIndex((o) => o.name === m.name) !== i) ctx.addIssue({ code: "custom", path: ["apps", name, "metrics", i, "name"], message: `duplicate metric "${m.name}"` });
      });
    }
    const joined = new Set((config.chat === "irc" ? (config.irc?.channels ?? []) : [config.console.channel]).map((c) => c.toLowerCase()));
    const alertChannels: Array<[string, (string | number)[]]> = config.alerts.defaultChannels.map((c, i) => [c, ["alerts", "defaultChannels", i]]);
    config.alerts.routes.forEach((r, i) => r.channels.forEach((c, j) => alertChannels.push([c, ["alerts", "routes", i, "channels", j]])));
    for (const [c, path] of alertChannels) if (!joined.has(c.toLowerCase())) ctx.addIssue({ code: "custom", path, message: `${c} is not a channel the bot joins` });
    config.alerts.receivers.forEach((r, i) => {
      if (config.alerts.receivers.findIndex((o) => o.name === r.name) !== i) ctx.addIssue({ code: "custom", path: ["alerts", "receivers", i, "name"], message: `duplicate receiver "${r.name}"` });
    });
    config.alerts.watch.forEach((w, i) => {
      if (config.alerts.watch.findIndex((o) => o.name === w.name) !== i) ctx.addIssue({ code: "custom", path: ["alerts", "watch", i, "name"], message: `duplicate watch rule "${w.name}"` });
      if (!w.url && !config.metrics.graphite) ctx.addIssue({ code: "custom", path: ["alerts", "watch", i, "url"], message: "no Graphite: set url here or metrics.graphite.url" });
    });
    config.alerts.receivers.forEach((r, i) => {
      if (r.name === WATCH_RECEIVER) ctx.addIssue({ code: "custom", path: ["alerts", "receivers", i, "name"], message: `"${WATCH_RECEIVER}" is reserved for alerts.watch` });
    });
    for (const app of Object.keys(config.alerts.appLabels)) if (!(app in config.apps)) ctx.addIssue({ code: "custom", path: ["alerts", "appLabels", app], message: `unknown app "${app}"` });
    try {
      new RegExp(config.sal.taskPattern);
    } catch (e) {
      ctx.addIssue({ code: "custom", path: ["sal", "taskPattern"], message: `not a valid regular expression: ${(e as Error).message}` });
    }
  });

export type ConfigInput = z.input<typeof ConfigSchema>;
export type Config = z.infer<typeof ConfigSchema>;
export type IrcConfig = z.infer<typeof IrcSchema>;
