// Builds the metric adapters the config names (Graphite, Prometheus, Grafana). Called by the composition
// roots (run-bot.ts, the test bot) so that app.ts imports no I/O library.

import type { LoadedConfig } from "../config/load.js";
import { GrafanaAnnotator, type Annotator } from "./grafana.js";
import { GraphiteSource } from "./graphite.js";
import { PrometheusSource } from "./prometheus.js";
import type { MarkerStore } from "./source.js";
import type { Sources } from "./verdict.js";

export interface MetricAdapters {
  readonly sources: Sources;
  /** Where deploy markers go: Graphite events and Grafana annotations (empty when markers are off). */
  readonly annotators: readonly Annotator[];
  /** Graphite's events, for the graph pages. */
  readonly markerStore: MarkerStore | null;
}

export function buildMetricAdapters(loaded: LoadedConfig): MetricAdapters {
  const m = loaded.config.metrics;
  const graphite = m.graphite ? new GraphiteSource({ url: m.graphite.url, timeoutMs: m.graphite.timeoutMs }) : null;
  const prometheus = m.prometheus ? new PrometheusSource({ url: m.prometheus.url, timeoutMs: m.prometheus.timeoutMs }) : null;
  const grafana = m.grafana && loaded.secrets.grafanaToken ? new GrafanaAnnotator({ url: m.grafana.url, token: loaded.secrets.grafanaToken, timeoutMs: m.grafana.timeoutMs }) : null;
  return {
    sources: { ...(graphite ? { graphite } : {}), ...(prometheus ? { prometheus } : {}) },
    annotators: m.markers ? [...(graphite ? [graphite] : []), ...(grafana ? [grafana] : [])] : [],
    markerStore: graphite,
  };
}
