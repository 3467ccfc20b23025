// Builds the alerts side from the config: the store in the data directory and, when configured, the
// Alertmanager API client for silences. Shared by the bot (run-bot.ts) and the end-to-end harness.

import { join } from "node:path";
import type { LoadedConfig } from "../config/load.js";
import { SqliteAlertStore } from "./alert-store.js";
import { AlertmanagerApi, type SilenceApi } from "./alertmanager-api.js";

export interface AlertsDeps {
  readonly store: SqliteAlertStore;
  readonly silences: SilenceApi | null;
}

export function buildAlerts(loaded: LoadedConfig, dataDir: string): AlertsDeps {
  const am = loaded.config.alerts.alertmanager;
  return {
    store: new SqliteAlertStore(join(dataDir, "alerts.sqlite3"), () => new Date()),
    silences: am ? new AlertmanagerApi(am.url, am.timeoutMs, loaded.secrets.alertmanagerBearer ?? null) : null,
  };
}
