// Builds the alerts side from the config: the store in the data directory, the Alertmanager API client
// for silences when configured, and the Graphite clients of the watch rules. Shared by the bot
// (run-bot.ts) and the end-to-end harness.

import { join } from "node:path";
import type { LoadedConfig } from "../config/load.js";
import { GraphiteSource } from "../metrics/graphite.js";
import { SqliteAlertStore } from "./alert-store.js";
import { AlertmanagerApi, type SilenceApi } from "./alertmanager-api.js";
import type { WatchSource } from "./graphite-watch.js";

export interface AlertsDeps {
  readonly store: SqliteAlertStore;
  readonly silences: SilenceApi | null;
  /** A Graphite client per URL and deadline, for alerts.watch. */
  readonly graphite: (url: string, timeoutMs: number) => WatchSource;
}

export function buildAlerts(loaded: LoadedConfig, dataDir: string): AlertsDeps {
  const am = loaded.config.alerts.alertmanager;
  const clients = new Map<string, GraphiteSource>();
  return {
    store: new SqliteAlertStore(join(dataDir, "alerts.sqlite3"), () => new Date()),
    silences: am ? new AlertmanagerApi(am.url, am.timeoutMs, loaded.secrets.alertmanagerBearer ?? null) : null,
    graphite: (url, timeoutMs) => {
      const key = `${timeoutMs} ${url}`;
      let c = clients.get(key);
      if (!c) clients.set(key, (c = new GraphiteSource({ url, timeoutMs })));
      return c;
    },
  };
}
