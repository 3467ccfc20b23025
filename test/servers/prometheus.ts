// Starts a real Prometheus (Debian package) on a free loopback port with a temp data dir. History is
// deterministic: samples are written as OpenMetrics and turned into TSDB blocks with
// `promtool tsdb create-blocks-from openmetrics` before the server starts. Optional scrape targets.

import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Daemon, freePort, httpReady, removeDir, tempDir } from "./daemon.js";
import { ensureDebianPackage } from "./ensure-package.js";

export interface BackfillSeries {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** [ms since the epoch, value]; NaN is written as NaN. */
  readonly samples: ReadonlyArray<readonly [number, number]>;
}

export interface PrometheusOptions {
  readonly backfill?: readonly BackfillSeries[];
  /** host:port targets scraped as job "demo", with the label host=NAME. */
  readonly scrape?: ReadonlyArray<{ readonly target: string; readonly host: string }>;
  readonly scrapeIntervalSec?: number;
}

export interface PrometheusServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  /** Starts it again on the same port and data (after stop()). */
  start(): Promise<void>;
  logs(): string;
  /** Stops it and removes its data. */
  close(): Promise<void>;
}

/** The OpenMetrics text promtool backfills from: families grouped, samples in time order, # EOF. */
export function openMetrics(series: readonly BackfillSeries[]): string {
  const byName = new Map<string, BackfillSeries[]>();
  for (const s of series) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const out: string[] = [];
  for (const [name, list] of byName) {
    out.push(`# TYPE ${name} gauge`);
    for (const s of list) {
      const labels = Object.entries(s.labels ?? {}).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`).join(",");
      for (const [t, v] of [...s.samples].sort((a, b) => a[0] - b[0])) out.push(`${name}${labels ? `{${labels}}` : ""} ${Number.isNaN(v) ? "NaN" : v} ${(t / 1000).toFixed(3)}`);
    }
  }
  out.push("# EOF", "");
  return out.join("\n");
}

export async function startPrometheus(opts: PrometheusOptions = {}): Promise<PrometheusServer> {
  const prometheus = await ensureDebianPackage("prometheus", "prometheus");
  const promtool = await ensureDebianPackage("promtool", "prometheus");
  const dir = await tempDir("tugboat-prometheus-");
  const data = join(dir, "data");
  if (opts.backfill?.length) {
    await writeFile(join(dir, "backfill.om"), openMetrics(opts.backfill));
    await promisify(execFile)(promtool, ["tsdb", "create-blocks-from", "openmetrics", join(dir, "backfill.om"), data], { timeout: 120_000 });
  }
  const interval = opts.scrapeIntervalSec ?? 1;
  const scrape = opts.scrape?.length
    ? `scrape_configs:\n  - job_name: demo\n    static_configs:\n${opts.scrape.map((s) => `      - targets: ["${s.target}"]\n        labels: {host: "${s.host}"}`).join("\n")}\n`
    : "";
  await writeFile(join(dir, "prometheus.yml"), `global:\n  scrape_interval: ${interval}s\n  evaluation_interval: ${interval}s\n${scrape}`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const daemon = new Daemon("prometheus", [prometheus, `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${port}`, "--storage.tsdb.retention.time=30d", "--log.level=warn"]);
  const start = () => daemon.start(httpReady(`${url}/-/ready`));
  await start();
  return {
    url, port, start, logs: () => daemon.logs(),
    stop: () => daemon.stop(),
    async close() {
      await daemon.stop();
      removeDir(dir);
    },
  };
}
