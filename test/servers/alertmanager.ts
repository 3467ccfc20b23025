// Starts a real Alertmanager (Debian package prometheus-alertmanager) on a free loopback port, with
// clustering off and short group timings, routing every alert to one webhook (tugboat's receiver)
// with a bearer token. Alerts can be posted to its v2 API directly (storms) or come from Prometheus.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDebianPackage } from "./ensure-package.js";
import { freePort, httpReady, startDaemon } from "./daemon.js";

export interface AlertmanagerServer {
  readonly url: string;
  /** POST /api/v2/alerts: what Prometheus does. */
  postAlerts(alerts: ReadonlyArray<{ labels: Record<string, string>; annotations?: Record<string, string>; startsAt?: string; endsAt?: string }>): Promise<void>;
  logs(): string;
  stop(): Promise<void>;
}

export interface AlertmanagerOptions {
  readonly webhookUrl: string;
  readonly bearer: string;
  readonly groupBy?: readonly string[];
  readonly groupWait?: string;
  readonly groupInterval?: string;
}

export async function startAlertmanager(o: AlertmanagerOptions): Promise<AlertmanagerServer> {
  const binary = await ensureDebianPackage("prometheus-alertmanager", "prometheus-alertmanager");
  const dir = await mkdtemp(join(tmpdir(), "tugboat-alertmanager-"));
  await writeFile(join(dir, "token"), o.bearer, { mode: 0o600 });
  const config = {
    route: {
      receiver: "tugboat", group_by: o.groupBy ?? ["alertname"], group_wait: o.groupWait ?? "1s", group_interval: o.groupInterval ?? "2s", repeat_interval: "1h",
    },
    receivers: [{ name: "tugboat", webhook_configs: [{ url: o.webhookUrl, send_resolved: true, http_config: { authorization: { type: "Bearer", credentials_file: join(dir, "token") } } }] }],
  };
  // JSON is YAML: no YAML writer needed.
  await writeFile(join(dir, "alertmanager.yml"), JSON.stringify(config, null, 2));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const daemon = await startDaemon(
    "alertmanager",
    binary,
    [`--config.file=${join(dir, "alertmanager.yml")}`, `--storage.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--cluster.listen-address=", "--log.level=info"],
    httpReady(`${url}/-/ready`),
  );
  return {
    url,
    logs: daemon.logs,
    async postAlerts(alerts) {
      const res = await fetch(`${url}/api/v2/alerts`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(alerts), signal: AbortSignal.timeout(10_000) });
      if (res.status !== 200) throw new Error(`alertmanager refused the alerts: HTTP ${res.status} ${await res.text()}`);
    },
    async stop() {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
