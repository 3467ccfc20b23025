// Runs the bot: builds the adapters the config names (IRC or the terminal chat, SQLite, the web
// server), wires them with createApp, and stops cleanly on signals or at the end of piped input.
// Loaded only by `tugboat start`, so that --help, check-config and log stay quick.

import { openSync } from "node:fs";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { createApp } from "./app.js";
import { ConsoleChat } from "./chat/console-chat.js";
import { IrcFrameworkChat } from "./chat/irc-framework-chat.js";
import type { ChatPort } from "./chat/port.js";
import type { LoadedConfig } from "./config/load.js";
import { ConfigError } from "./errors.js";
import { BotMetrics } from "./observability/bot-metrics.js";
import { salFile, SqliteSalStore } from "./sal/sqlite-store.js";
import { buildWebServer } from "./web/server.js";
import { buildFleet } from "./fleet/build.js";
import { buildAlerts } from "./alerts/build.js";
import { buildMetricAdapters } from "./metrics/build.js";

function makeLogger(loaded: LoadedConfig, dataDir: string, env: NodeJS.ProcessEnv): Logger {
  const level = env.TUGBOAT_LOG_LEVEL ?? loaded.config.log.level;
  const redact = { paths: ["password", "token", "*.password", "*.token", "headers.authorization", "req.headers.authorization"], censor: "[secret]" };
  // In the terminal chat, logs go to a file so they do not interleave with the conversation. The file is
  // opened here, synchronously: pino flushes at process.exit, and an async open still pending then (a
  // start-up error such as a busy port) made that flush throw over the real error.
  const destination = loaded.config.chat === "console" ? pino.destination({ fd: openSync(join(dataDir, "tugboat.log"), "a"), sync: false }) : pino.destination(1);
  return pino({ level, redact, base: { app: "tugboat" } }, destination);
}

export async function runBot(loaded: LoadedConfig, dataDir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const { config } = loaded;
  const log = makeLogger(loaded, dataDir, env);
  const metrics = new BotMetrics();
  const reconnects = metrics.counter("tugboat_chat_reconnects_total", "Connection attempts to the chat network after the first.");
  let stopping: Promise<void> | null = null;
  const shutdown = (reason: string, code = 0) => {
    stopping ??= (async () => {
      log.info({ reason }, "stopping");
      // A signal gets 10 s (a running deploy is then left to the journal: the next start reports it as
      // interrupted); the end of piped input waits for running deploys, as a script expects.
      const timer = reason === "end of input" ? undefined : setTimeout(() => process.exit(code || 1), 10_000);
      try {
        await app.stop(reason);
      } finally {
        clearTimeout(timer);
        log.flush();
        process.exitCode = code;
      }
    })();
    return stopping;
  };
  let chat: ChatPort;
  if (config.chat === "irc" && config.irc) {
    let first = true;
    chat = new IrcFrameworkChat(config.irc, { password: loaded.secrets.ircPassword, saslPassword: loaded.secrets.saslPassword, nickservPassword: loaded.secrets.nickservPassword }, log.child({ component: "irc" }), {
      onReconnect: () => (first ? (first = false) : reconnects()),
    });
  } else {
    chat = new ConsoleChat({
      input: process.stdin,
      output: process.stdout,
      botNick: "tugboat",
      userNick: config.console.nick,
      channel: config.console.channel,
      interactive: Boolean(process.stdin.isTTY),
      onEnd: () => void shutdown("end of input"),
    });
  }
  const store = new SqliteSalStore(salFile(dataDir), () => new Date());
  const where = config.chat === "console" ? "" : ` on ${config.irc?.host}:${config.irc?.port}`;
  const banner = (url: string) => process.stderr.write(`tugboat: web UI at ${url}, ${chat.name} chat${where}, data in ${dataDir}\n`);
  const fleet = Object.keys(config.apps).length > 0 ? buildFleet(loaded, dataDir, log, env) : null;
  const metricAdapters = config.metrics.graphite || config.metrics.prometheus ? buildMetricAdapters(loaded) : null;
  const app = createApp({ loaded, chat, store, log, metrics, web: buildWebServer, onListening: banner, fleet, alerts: buildAlerts(loaded, dataDir), metricAdapters });
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  try {
    await app.start();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "EADDRINUSE") throw new ConfigError(`web: ${config.web.host}:${config.web.port} is already in use (set web.port in the config)`);
    throw e;
  }
}

