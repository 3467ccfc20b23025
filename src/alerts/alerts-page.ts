// /alerts: what is firing now, per alert name, every value escaped (pure: alerts in, HTML out).

import { layout } from "../web/layout.js";
import { escapeHtml as e } from "../web/linkify.js";
import { instanceOf, severityRank } from "./alert-format.js";
import type { CurrentAlert } from "./alert-store.js";

export function renderAlertsPage(alerts: readonly CurrentAlert[], baseUrl: string): string {
  const sorted = [...alerts].sort((a, b) => severityRank(a.labels.severity) - severityRank(b.labels.severity) || (a.labels.alertname ?? "").localeCompare(b.labels.alertname ?? ""));
  const safeUrl = (u: string | null | undefined) => (u && /^https?:\/\//i.test(u) ? u : null);
  const rows = sorted
    .map((a) => {
      const link = safeUrl(a.annotations.runbook_url) ?? safeUrl(a.generatorURL);
      return `<tr><td><strong>${e(a.labels.alertname ?? "?")}</strong></td><td>${e(a.labels.severity ?? "")}</td><td>${e(instanceOf(a) ?? "")}</td><td>${e(a.annotations.summary ?? a.annotations.description ?? "")}</td><td><time datetime="${e(a.startsAt)}">${e(a.startsAt.slice(0, 16).replace("T", " "))}</time></td><td>${link ? `<a href="${e(link)}">link</a>` : ""}</td></tr>`;
    })
    .join("\n");
  const body = `<h1>Alerts firing now</h1>
${alerts.length ? `<div class="scroll"><table class="alerts"><thead><tr><th>Alert</th><th>Severity</th><th>Instance</th><th>Summary</th><th>Since (UTC)</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>` : "<p>Nothing is firing.</p>"}`;
  return layout({ title: "Alerts", body, baseUrl });
}
