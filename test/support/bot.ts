// Runs the whole bot in this process as main.ts wires it: the real IRC adapter, SQLite under a
// temp data directory and the web server on a free loopback port.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { commands as allCommands } from "../../commands/index.js";
import { createApp, type App } from "../../src/app.js";
import type { Command } from "../../src/chat/command.js";
import { IrcFrameworkChat, type IrcSecrets } from "../../src/chat/irc-framework-chat.js";
import { parseConfigText } from "../../src/config/load.js";
import type { ConfigInput } from "../../src/config/schema.js";
import { BotMetrics } from "../../src/observability/bot-metrics.js";
import { SqliteSalStore } from "../../src/sal/sqlite-store.js";
import { buildWebServer } from "../../src/web/server.js";
import { buildFleet } from "../../src/fleet/build.js";
import { buildAlerts } from "../../src/alerts/build.js";
import { buildMetricAdapters } from "../../src/metrics/build.js";

export const API_TOKEN = "test-token-0123456789";

export interface RunningBot {
  readonly app: App;
  readonly chat: IrcFrameworkChat;
  readonly url: string;
  readonly dataDir: string;
  readonly log: string[];
  stop(): Promise<void>;
}

export async function startBot(opts: { port: number; config?: Partial<ConfigInput>; alertSecrets?: Array<{ name: string; kind: "bearer" | "hmac"; secret: string }>; irc?: Record<string, unknown>; extraCommands?: Command[]; nick?: string; secrets?: IrcSecrets; sshPrivateKey?: string; deployTiming?: { progressEveryMs?: number; gateAnswerSec?: number; confirmSec?: number }; dataDir?: string }): Promise<RunningBot> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "tugboat-bot-"));
  const input: ConfigInput = {
    chat: "irc",
    irc: {
      host: "127.0.0.1", port: opts.port, tls: false, nick: opts.nick ?? "tugboat", channels: ["#operations", "#other"],
      reconnect: { minDelayMs: 200, maxDelayMs: 1000, stableAfterMs: 2000 }, regainNickEveryMs: 500, connectTimeoutMs: 5000,
      ...opts.irc,
    } as ConfigInput["irc"],
    sal: { channels: { "#operations": {} }, projects: ["mediawiki"] },
    web: { port: 0 },
    api: { tokens: [{ name: "cron@deploy1001", token: { env: "T" } }] },
    ...opts.config,
  };
  const config = parseConfigText(JSON.stringify(input), "test.json");
  const lines: string[] = [];
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(s) });
  const chat = new IrcFrameworkChat(config.irc!, opts.secrets ?? { password: null, saslPassword: null, nickservPassword: null }, log.child({ component: "irc" }));
  const store = new SqliteSalStore(join(dataDir, "sal.sqlite3"), () => new Date());
  const loaded = { config, secrets: { ircPassword: null, saslPassword: null, nickservPassword: null, apiTokens: [{ name: "cron@deploy1001", token: API_TOKEN }], sshPrivateKey: opts.sshPrivateKey ?? null, alertReceivers: opts.alertSecrets ?? [] }, source: "test" };
  const fleet = Object.keys(config.apps).length ? buildFleet(loaded, dataDir, log, {}) : null;
  const app = createApp({
    loaded,
    chat, store, log, metrics: new BotMetrics(), web: buildWebServer, fleet, alerts: buildAlerts(loaded, dataDir),
    metricAdapters: config.metrics.graphite || config.metrics.prometheus ? buildMetricAdapters(loaded) : null,
    commands: [...allCommands, ...(opts.extraCommands ?? [])],
    ...(opts.deployTiming ? { deployTiming: opts.deployTiming } : {}),
  });
  const { url } = await app.start();
  return {
    app, chat, url, dataDir, log: lines,
    async stop() {
      await app.stop("test over");
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resolves when the condition holds, polling; rejects after the deadline. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
