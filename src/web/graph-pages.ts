// The graph page (/graphs/APP?window=6h): each metric of the app as a server-side SVG line chart with
// the deploys and rollbacks drawn as vertical marks (linked to their deploy pages), the value now, and
// links to Graphite or Grafana dashboards. Also the metric verdicts section of a deploy page. Pure.

import type { VerdictRecord } from "../metrics/deploy-watch.js";
import type { AppGraphs, MetricSeries } from "../metrics/graphs.js";
import { formatValue, metricLine } from "../metrics/verdict.js";
import { layout, sitePath } from "./layout.js";
import { escapeHtml as e } from "./linkify.js";

const W = 640;
const H = 160;
const PAD = { left: 56, right: 8, top: 8, bottom: 20 };

const clock = (t: number) => new Date(t).toISOString().slice(11, 16);

/** One chart: the series as a polyline (broken at gaps), min/max labels, time labels, deploy marks. */
export function renderChart(m: MetricSeries, g: AppGraphs, baseUrl: string): string {
  const x = (t: number) => PAD.left + ((t - g.from) / Math.max(1, g.to - g.from)) * (W - PAD.left - PAD.right);
  const values = m.points.filter((p) => p.v !== null).map((p) => p.v!);
  const lo = values.length ? Math.min(...values) : 0;
  const hi = values.length ? Math.max(...values) : 1;
  const span = hi - lo || Math.abs(hi) || 1;
  const y = (v: number) => PAD.top + (1 - (v - lo) / span) * (H - PAD.top - PAD.bottom);
  const runs: string[][] = [[]];
  for (const p of m.points) {
    if (p.v === null) runs.push([]);
    else runs[runs.length - 1]!.push(`${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
  }
  const lines = runs.filter((r) => r.length).map((r) => (r.length === 1 ? `<circle cx="${r[0]!.split(",")[0]}" cy="${r[0]!.split(",")[1]}" r="1.5" class="line"/>` : `<polyline points="${r.join(" ")}" class="line"/>`)).join("");
  const marks = g.deploys
    .map((d) => {
      const cx = x(d.at).toFixed(1);
      return `<a href="${e(sitePath(baseUrl, `/deploys/${d.id}`))}"><line x1="${cx}" x2="${cx}" y1="${PAD.top}" y2="${H - PAD.bottom}" class="mark ${d.kind === "rollback" ? "rollback" : "deploy"}"><title>${e(d.kind)} #${d.id} at ${clock(d.at)} UTC (${e(d.state)})</title></line><text x="${cx}" y="${PAD.top + 10}" class="mark-label">#${d.id}</text></a>`;
    })
    .join("");
  const body = m.error
    ? `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="nodata">${e(m.error)}</text>`
    : `${lines}<text x="${PAD.left - 4}" y="${PAD.top + 8}" text-anchor="end" class="axis">${e(formatValue(hi, m.unit))}</text><text x="${PAD.left - 4}" y="${H - PAD.bottom}" text-anchor="end" class="axis">${e(formatValue(lo, m.unit))}</text>`;
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${e(m.name)}" class="chart" xmlns="http://www.w3.org/2000/svg">
<rect x="${PAD.left}" y="${PAD.top}" width="${W - PAD.left - PAD.right}" height="${H - PAD.top - PAD.bottom}" class="frame"/>
${body}${marks}
<text x="${PAD.left}" y="${H - 4}" class="axis">${clock(g.from)}</text><text x="${W - PAD.right}" y="${H - 4}" text-anchor="end" class="axis">${clock(g.to)} UTC</text>
</svg>`;
}

const STYLE = `<style>
svg.chart{width:100%;height:auto;display:block;margin:.25rem 0 1.25rem}
svg.chart .frame{fill:none;stroke:var(--line)}
svg.chart .line{fill:none;stroke:var(--link);stroke-width:1.5}
svg.chart circle.line{fill:var(--link)}
svg.chart .mark{stroke-width:2;stroke-dasharray:4 3}
svg.chart .mark.deploy{stroke:#2e7d32}svg.chart .mark.rollback{stroke:#c62828}
svg.chart text{fill:var(--muted);font:11px var(--mono)}
svg.chart .nodata{fill:var(--err-fg);font-size:13px}
</style>`;

export function renderGraphPage(g: AppGraphs, windowText: string, windows: readonly string[], dashboards: ReadonlyArray<{ name: string; url: string }>, baseUrl: string): string {
  const nav = windows.map((w) => (w === windowText ? `<strong>${e(w)}</strong>` : `<a href="${e(sitePath(baseUrl, `/graphs/${g.app}?window=${w}`))}">${e(w)}</a>`)).join(" · ");
  const charts = g.metrics
    .map((m) => {
      const last = [...m.points].reverse().find((p) => p.v !== null);
      return `<h2>${e(m.name)}${last ? ` <span class="muted">now ${e(formatValue(last.v!, m.unit))}</span>` : ""}</h2>${renderChart(m, g, baseUrl)}`;
    })
    .join("\n");
  const marks = g.deploys.length ? `<p class="muted">Marks: ${g.deploys.map((d) => `<a href="${e(sitePath(baseUrl, `/deploys/${d.id}`))}">${e(d.kind)} #${d.id}</a> ${clock(d.at)}`).join(", ")} (green: deploy, red: rollback)</p>` : `<p class="muted">No deploy in this window.</p>`;
  const dash = dashboards.length ? `<p>Dashboards: ${dashboards.map((d) => `<a href="${e(d.url)}">${e(d.name)}</a>`).join(", ")}</p>` : "";
  const body = `<h1>${e(g.app)}: metrics over ${e(windowText)}</h1><p>${nav}</p>${marks}${charts}${dash}`;
  return layout({ title: `${g.app} graphs`, body, baseUrl, head: STYLE });
}

/** The "Metrics" section of a deploy page. */
export function renderVerdicts(app: string, records: readonly VerdictRecord[], hasGraphs: boolean, deployAt: number, baseUrl: string): string {
  const link = hasGraphs ? `<p><a href="${e(sitePath(baseUrl, `/graphs/${app}?window=${Date.now() - deployAt < 5_400_000 ? "1h" : Date.now() - deployAt < 21_600_000 ? "6h" : Date.now() - deployAt < 86_400_000 ? "1d" : "7d"}`))}">Graphs of ${e(app)}</a></p>` : "";
  if (records.length === 0) return `${link}<p class="muted">No metric verdict${hasGraphs ? " (yet, or the bot restarted since: the SAL keeps it)" : ""}.</p>`;
  const items = records
    .map((r) => `<li><strong>${r.stage === "canary" ? "Canaries" : "After the deploy"}: ${e(r.verdict.overall)}</strong> <span class="muted">(${e(r.verdict.compared)}, ${e(r.at.slice(11, 19))} UTC${r.action ? `; ${e(r.action)}` : ""})</span><ul>${r.verdict.metrics.map((m) => `<li>${e(metricLine(m))}${m.why && m.baseline ? ` <span class="muted">${e(m.why)}</span>` : ""}</li>`).join("")}</ul></li>`)
    .join("");
  return `${link}<ul class="verdicts">${items}</ul>`;
}
