// Server-rendered deploy pages: the list (/deploys, filter by app) and one deploy (/deploys/ID) with
// who, when, why, the range and its commits, the diffstat and full diff (security patches excluded),
// every host's step results with durations and error tails, gate verdicts and the SAL entries.
// Pure: records in, HTML out; every value escaped.

import { shortSha as short, type CommitRange } from "../git/commit-range.js";
import type { DeployRecord, StepRecord } from "../fleet/journal.js";
import { GATE_HOST } from "../fleet/events.js";
import type { SalEntry } from "../sal/entry.js";
import type { DeployAlert } from "../alerts/alert-store.js";
import { layout, sitePath } from "./layout.js";
import { escapeHtml, linkify, type LinkRules } from "./linkify.js";
import { GRID_CSS } from "./fleet-view.js";

const e = escapeHtml;

function stateBadge(state: string): string {
  const words: Record<string, string> = { succeeded: "SUCCEEDED", failed: "FAILED", "rolled-back": "ROLLED BACK", aborted: "ABORTED", interrupted: "INTERRUPTED", running: "RUNNING" };
  return `<span class="tag state-${e(state)}">${e(words[state] ?? state.toUpperCase())}</span>`;
}

function duration(d: DeployRecord): string {
  if (!d.finishedAt) return "running";
  const ms = Date.parse(d.finishedAt) - Date.parse(d.startedAt);
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, "0")}s`;
}

export function renderDeployList(input: { deploys: DeployRecord[]; apps: string[]; app: string | null; baseUrl: string }): string {
  const options = ["", ...input.apps].map((a) => `<option value="${e(a)}"${a === (input.app ?? "") ? " selected" : ""}>${a ? e(a) : "All apps"}</option>`).join("");
  const rows = input.deploys
    .map(
      (d) => `<tr><td><a href="${sitePath(input.baseUrl, `/deploys/${d.id}`)}">#${d.id}</a></td><td>${e(d.kind)} ${e(d.app)}</td>
<td><code>${e(short(d.fromSha))}..${e(short(d.toSha))}</code></td><td>${stateBadge(d.state)}</td><td>${e(d.nick)}</td>
<td><time datetime="${e(d.startedAt)}">${e(d.startedAt.slice(0, 16).replace("T", " "))}</time></td><td>${e(duration(d))}</td><td>${e(d.reason)}</td></tr>`,
    )
    .join("\n");
  const body = `<h1>Deploys</h1>
<form method="get" action="${sitePath(input.baseUrl, "/deploys")}" class="search"><label>App <select name="app">${options}</select></label> <button type="submit">Show</button></form>
${input.deploys.length ? `<div class="scroll"><table class="deploys"><thead><tr><th>#</th><th>What</th><th>Range</th><th>Outcome</th><th>By</th><th>Started (UTC)</th><th>Took</th><th>Why</th></tr></thead><tbody>${rows}</tbody></table></div>` : "<p>No deploys yet.</p>"}`;
  return layout({ title: "Deploys", body, baseUrl: input.baseUrl });
}

export interface DeployPageInput {
  readonly deploy: DeployRecord;
  readonly steps: readonly StepRecord[];
  readonly range: CommitRange | null;
  readonly diff: string | null;
  /** Why the range or diff is missing (e.g. the staging repository no longer has the commits). */
  readonly rangeError: string | null;
  readonly sal: readonly SalEntry[];
  readonly rules: LinkRules;
  readonly baseUrl: string;
  /** The fleet grid replayed from the journal (fleet-replay.ts). */
  readonly grid?: string;
  /** Alerts that started within the alert window after this deploy, on its hosts or app labels. */
  readonly alerts?: readonly DeployAlert[];
  /** The metric verdicts section (src/web/graph-pages.ts), when metrics are configured. */
  readonly metrics?: string | null;
}

/** The commits of a range and its diffstat, or why they are missing. */
function rangeSection(range: CommitRange | null, error: string | null): string {
  if (!range) return `<p class="muted">${e(error ?? "no commit range")}</p>`;
  const commits =
    range.commits.map((c) => `<li><code>${c.url ? `<a href="${e(c.url)}">${e(c.short)}</a>` : e(c.short)}</code> ${e(c.author)}: ${e(c.subject)}</li>`).join("\n") +
    (range.count > range.commits.length ? `<li>and ${range.count - range.commits.length} more</li>` : "");
  return `<p><strong>${range.count}</strong> commit${range.count === 1 ? "" : "s"}, <span class="add">+${range.added}</span>/<span class="del">-${range.deleted}</span> in ${range.filesChanged} file${range.filesChanged === 1 ? "" : "s"}</p><ul class="commits">${commits}</ul>`;
}

/** A unified diff, added and deleted lines marked, or why it is missing; security patches never shown. */
function diffSection(diff: string | null, error: string | null): string {
  const body = diff
    ? `<pre class="diff">${diff.split("\n").map((l) => (l.startsWith("+") && !l.startsWith("+++") ? `<span class="add">${e(l)}</span>` : l.startsWith("-") && !l.startsWith("---") ? `<span class="del">${e(l)}</span>` : e(l))).join("\n")}</pre>`
    : `<p class="muted">${e(error ?? "no diff")}</p>`;
  return `${body}\n<p class="muted">Security patches are deployed on top of this range and never shown here.</p>`;
}

export interface DiffPageInput {
  readonly app: string;
  /** The release live now (null: a first deploy). */
  readonly from: string | null;
  readonly to: string;
  readonly range: CommitRange;
  readonly diff: string;
  readonly baseUrl: string;
}

/** What a deploy would ship (`!diff`'s link): the range, its commits and the diff, before any deploy. */
export function renderDiffPage(p: DiffPageInput): string {
  const body = `<h1>${e(p.app)}: <code>${e(short(p.from))}..${e(short(p.to))}</code></h1>
<p class="muted">What a deploy of <code>${e(short(p.to))}</code> would ship over ${p.from ? `<code>${e(short(p.from))}</code>` : "nothing (a first deploy)"}. Deploys that ran are under <a href="${sitePath(p.baseUrl, `/deploys?app=${encodeURIComponent(p.app)}`)}">Deploys</a>.</p>
<h2>Changes</h2>
${rangeSection(p.range, null)}
<h2>Diff</h2>
${diffSection(p.diff, null)}`;
  return layout({ title: `diff ${p.app} ${short(p.from)}..${short(p.to)}`, body, baseUrl: p.baseUrl });
}

export function renderDeployPage(p: DeployPageInput): string {
  const d = p.deploy;
  const hosts = new Map<string, StepRecord[]>();
  const gates = p.steps.filter((s) => s.host === GATE_HOST);
  for (const s of p.steps) if (s.host !== GATE_HOST) hosts.set(s.host, [...(hosts.get(s.host) ?? []), s]);
  const hostRows = [...hosts]
    .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
    .map(([host, steps]) => {
      const failed = steps.find((s) => s.outcome !== "ok");
      const total = steps.reduce((n, s) => n + s.ms, 0);
      const cells = steps.map((s) => `<span class="step ${s.outcome === "ok" ? "ok" : "bad"}" title="${e(s.detail ?? "")}">${e(s.step)} ${s.outcome === "ok" ? "" : `${e(s.outcome.toUpperCase())} `}${s.ms} ms</span>`).join(" ");
      return `<tr id="host-${e(host)}"><td>${e(host)}</td><td>${failed ? `<span class="tag state-failed">${e(failed.outcome.toUpperCase())}</span>` : `<span class="tag state-succeeded">OK</span>`}</td><td>${total} ms</td><td>${cells}${failed?.detail ? `<pre class="tail">${e(failed.detail)}</pre>` : ""}</td></tr>`;
    })
    .join("\n");
  const rangeHtml = rangeSection(p.range, p.rangeError);
  const sal = p.sal.map((s) => `<li><a href="${sitePath(p.baseUrl, `/log/${s.id}`)}">${e(s.time.slice(11, 16))}</a> ${e(s.nick)}: ${linkify(s.message, p.rules)}</li>`).join("\n");
  const body = `<h1>${e(d.kind === "rollback" ? "Rollback" : "Deploy")} #${d.id}: ${e(d.app)} ${stateBadge(d.state)}</h1>
<dl class="fields">
<dt>By</dt><dd>${e(d.nick)}</dd>
<dt>Why</dt><dd>${linkify(d.reason, p.rules)}</dd>
<dt>Range</dt><dd><code>${e(short(d.fromSha))}..${e(short(d.toSha))}</code>${d.ref ? ` (${e(d.ref)})` : ""}</dd>
<dt>Started (UTC)</dt><dd><time datetime="${e(d.startedAt)}">${e(d.startedAt)}</time></dd>
<dt>Took</dt><dd>${e(duration(d))}</dd>
<dt>Outcome</dt><dd>${e(d.summary ?? "running")}</dd>
</dl>
<h2>Changes</h2>
${rangeHtml}
<h2>Hosts</h2>
${p.grid ?? ""}
${hostRows ? `<div class="scroll"><table class="hosts"><thead><tr><th>Host</th><th>Result</th><th>Time</th><th>Steps</th></tr></thead><tbody>${hostRows}</tbody></table></div>` : "<p>No host was touched.</p>"}
<h2>Gates</h2>
${gates.length ? `<ul class="gates">${gates.map((g) => `<li>${e(g.step)}: <strong>${e(g.outcome.toUpperCase())}</strong> (${e(g.detail ?? "")}) <time datetime="${e(g.at)}">${e(g.at.slice(11, 19))}</time></li>`).join("")}</ul>` : "<p>No gate was reached.</p>"}
${p.metrics ? `<h2>Metrics</h2>\n${p.metrics}\n` : ""}<h2>In the SAL</h2>
${sal ? `<ul class="sal">${sal}</ul>` : "<p>No entries.</p>"}
<h2>Alerts that followed</h2>
${p.alerts?.length ? `<ul class="alerts">${p.alerts.map((a) => `<li><time datetime="${e(a.startsAt)}">${e(a.startsAt.slice(11, 16))}</time> (${a.minutesAfter}m after) <strong>${e(a.alertname)}</strong>${a.severity ? ` [${e(a.severity)}]` : ""}${a.instance ? ` on ${e(a.instance)}` : ""}${a.summary ? `: ${e(a.summary)}` : ""}</li>`).join("")}</ul>` : "<p>No alerts followed this deploy.</p>"}
<h2>Diff</h2>
${diffSection(p.diff, p.rangeError)}`;
  return layout({ title: `${d.kind} #${d.id} ${d.app}`, body, baseUrl: p.baseUrl, ...(p.grid ? { head: `<style>${GRID_CSS}</style>` } : {}) });
}
