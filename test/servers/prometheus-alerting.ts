// Starts a real Prometheus (Debian package prometheus) that scrapes test exporters served from the
// test process (one per simulated host, relabelled instance=HOST), evaluates an alerting rule every
// second and sends to the given Alertmanager. Named apart from test/servers/prometheus.ts (metrics).

import { createServer, type Server } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDebianPackage } from "./ensure-package.js";
import { freePort, httpReady, startDaemon } from "./daemon.js";

export interface TestExporter {
  readonly host: string;
  readonly port: number;
  /** The value of `tugboat_test_metric` from the next scrape on. */
  set(value: number): void;
}

export interface PrometheusAlerting {
  readonly url: string;
  readonly exporters: readonly TestExporter[];
  logs(): string;
  stop(): Promise<void>;
}

/** `rule` is the alerting rule's PromQL, e.g. `tugboat_test_metric > 0`. */
export async function startPrometheusAlerting(o: { alertmanagerUrl: string; hosts: readonly string[]; rule?: string; alertname?: string }): Promise<PrometheusAlerting> {
  const binary = await ensureDebianPackage("prometheus", "prometheus");
  const dir = await mkdtemp(join(tmpdir(), "tugboat-prometheus-"));
  const servers: Server[] = [];
  const exporters: TestExporter[] = [];
  for (const host of o.hosts) {
    let value = 0;
    const server = createServer((_req, res) => res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(`# TYPE tugboat_test_metric gauge\ntugboat_test_metric ${value}\n`));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
    const port = (server.address() as { port: number }).port;
    exporters.push({ host, port, set: (v) => void (value = v) });
  }
  const alertname = o.alertname ?? "TestMetricHigh";
  const rules = {
    groups: [{
      name: "tugboat-test", interval: "1s",
      rules: [{
        alert: alertname, expr: o.rule ?? "tugboat_test_metric > 0", for: "0s", labels: { severity: "critical", team: "web" },
        annotations: { summary: "test metric is {{ $value }} on {{ $labels.instance }}", runbook_url: "https://runbooks.test/test-metric" },
      }],
    }],
  };
  const config = {
    global: { scrape_interval: "1s", evaluation_interval: "1s", scrape_timeout: "900ms" },
    rule_files: [join(dir, "rules.yml")],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [o.alertmanagerUrl.replace(/^https?:\/\//, "")] }] }] },
    scrape_configs: exporters.map((e) => ({
      job_name: `test-${e.host}`, static_configs: [{ targets: [`127.0.0.1:${e.port}`] }],
      relabel_configs: [{ target_label: "instance", replacement: e.host }],
    })),
  };
  await writeFile(join(dir, "rules.yml"), JSON.stringify(rules, null, 2));
  await writeFile(join(dir, "prometheus.yml"), JSON.stringify(config, null, 2));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const daemon = await startDaemon(
    "prometheus",
    binary,
    [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--rules.alert.resend-delay=1s", "--log.level=warn"],
    httpReady(`${url}/-/ready`),
    { readyMs: 30_000 },
  );
  return {
    url, exporters, logs: daemon.logs,
    async stop() {
      await daemon.stop();
      for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
