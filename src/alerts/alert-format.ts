// The words the channel sees for alerts, as pure functions: one line per alert group (state in words,
// severity, name, count, compressed instances, summary, link, the deploy that probably caused it), the
// `+N more` line of a storm, the summary after an outage, and the answer to !alerts.

import { compressHosts, utf8Length } from "../chat/format.js";
import type { Alert, AlertNotification } from "./notification.js";

const SEVERITY_RANK: Record<string, number> = { critical: 0, page: 0, error: 1, warning: 2, warn: 2, info: 3, none: 4 };
export const severityRank = (s: string | undefined): number => (s === undefined ? 3 : (SEVERITY_RANK[s.toLowerCase()] ?? 3));

/** The host an alert is about: the instance label without its port, or host/hostname. */
export function instanceOf(a: Pick<Alert, "labels">): string | null {
  const raw = a.labels.instance ?? a.labels.host ?? a.labels.hostname ?? null;
  if (raw === null || raw === "") return null;
  const m = /^\[?([^\]]+?)\]?(?::\d+)?$/.exec(raw);
  return m?.[1] ?? raw;
}

/** The name an alert is counted under: its alertname, marked when it is a watch rule's NO DATA. */
export const nameOf = (a: Pick<Alert, "labels">): string => `${a.labels.alertname ?? "?"}${a.labels.nodata === "true" ? " (NO DATA)" : ""}`;

export function severityOf(n: Pick<AlertNotification, "commonLabels" | "alerts">): string | null {
  if (n.commonLabels.severity) return n.commonLabels.severity;
  const all = n.alerts.map((a) => a.labels.severity).filter((s): s is string => Boolean(s));
  return all.sort((a, b) => severityRank(a) - severityRank(b))[0] ?? null;
}

export function alertnameOf(n: Pick<AlertNotification, "commonLabels" | "alerts">): string {
  if (n.commonLabels.alertname) return n.commonLabels.alertname;
  return [...new Set(n.alerts.map((a) => a.labels.alertname ?? "?"))].sort().join(", ");
}

/** Cuts text to at most `bytes` UTF-8 bytes, on a character boundary, marking the cut with "…". */
export function fitBytes(text: string, bytes: number): string {
  if (utf8Length(text) <= bytes) return text;
  let out = "";
  for (const ch of text) {
    if (utf8Length(out + ch) > bytes - 3) break;
    out += ch;
  }
  return `${out}…`;
}

export interface GroupLineInput {
  readonly notification: AlertNotification;
  /** "(started 3m after deploy #42 ...)", when one applies. */
  readonly deploy?: string | null;
}

/** `FIRING [critical] DiskFull x12 on web[01-07]: Disk almost full - https://runbook (started ...)` */
export function groupLine({ notification: n, deploy }: GroupLineInput, budget: number): string {
  const firing = n.alerts.filter((a) => a.status === "firing");
  const resolved = n.alerts.filter((a) => a.status === "resolved");
  const shown = n.status === "firing" ? firing : resolved;
  // Colour helps the eye; the word carries the meaning where channel modes strip colours (+c).
  // A watch rule's NO DATA (label nodata=true) is its own state: neither a breach nor OK.
  const nodata = n.status === "firing" && firing.length > 0 && firing.every((a) => a.labels.nodata === "true");
  const state = nodata ? "\x02\x0307NO DATA\x03\x02" : n.status === "firing" ? "\x02\x0304FIRING\x03\x02" : "\x02\x0303RESOLVED\x03\x02";
  const severity = severityOf(n);
  const also = n.status === "firing" && resolved.length ? ` (${resolved.length} resolved)` : "";
  const hosts = compressHosts(shown.map(instanceOf).filter((h): h is string => h !== null));
  const first = shown[0] ?? n.alerts[0];
  const summary = n.commonAnnotations.summary ?? first?.annotations.summary ?? first?.annotations.description ?? n.commonAnnotations.description ?? "";
  const link = n.commonAnnotations.runbook_url ?? first?.annotations.runbook_url ?? first?.generatorURL ?? n.externalURL ?? "";
  const head = `${state}${severity ? ` [${severity}]` : ""} ${alertnameOf(n)} x${shown.length}${also}`;
  const tail = `${link ? ` - ${link}` : ""}${deploy ? ` ${deploy}` : ""}`;
  // The head and the link survive; the host list and the summary give way, in that order.
  const room = budget - utf8Length(head) - utf8Length(tail);
  const hostsPart = hosts ? fitBytes(` on ${hosts}`, Math.max(0, Math.min(utf8Length(` on ${hosts}`), Math.floor(room / 2)))) : "";
  const summaryPart = summary ? fitBytes(`: ${summary}`, Math.max(0, room - utf8Length(hostsPart))) : "";
  return fitBytes(`${head}${hostsPart === "…" ? "" : hostsPart}${summaryPart === "…" ? "" : summaryPart}${tail}`, budget);
}

/** `DiskFull x12, HighLoad x5, ...` counting alerts per name, most first. */
export function countByName(alerts: ReadonlyArray<Pick<Alert, "labels">>, budget: number): string {
  const counts = new Map<string, number>();
  for (const a of alerts) counts.set(nameOf(a), (counts.get(nameOf(a)) ?? 0) + 1);
  const parts = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([name, n]) => `${name} x${n}`);
  let out = "";
  for (const [i, p] of parts.entries()) {
    const next = out ? `${out}, ${p}` : p;
    if (utf8Length(next) > budget - 5 && i < parts.length) return `${out}, ...`;
    out = next;
  }
  return out;
}

/** The line that stands for the groups a round had no room for. */
export function moreLine(rest: readonly AlertNotification[], link: string, budget: number): string {
  const firing = rest.filter((n) => n.status === "firing").flatMap((n) => n.alerts.filter((a) => a.status === "firing"));
  const resolved = rest.filter((n) => n.status === "resolved").flatMap((n) => n.alerts);
  const tail = ` <${link}>`;
  const room = budget - utf8Length(tail);
  const parts: string[] = [];
  if (firing.length) parts.push(`+${firing.length} more alert${firing.length === 1 ? "" : "s"} firing: ${countByName(firing, Math.floor(room * (resolved.length ? 0.65 : 1)) - 30)}`);
  if (resolved.length) parts.push(`${firing.length ? "" : "+"}${resolved.length} ${firing.length ? "" : "more "}resolved: ${countByName(resolved, Math.floor(room * 0.35) - 20)}`);
  return fitBytes(parts.join("; "), room) + tail;
}

/** After an outage (or a restart): what happened, in one line, instead of a replay. */
export function outageLine(input: { since: string | null; notifications: readonly AlertNotification[]; firingNow: ReadonlyArray<Pick<Alert, "labels">>; link: string }, budget: number): string {
  const groups = new Set(input.notifications.map((n) => `${n.receiver}\0${n.groupKey}`)).size;
  const resolvedGroups = input.notifications.filter((n) => n.status === "resolved");
  const since = input.since ? ` (since ${input.since.slice(11, 16)} UTC)` : "";
  const head = `While I was away${since}: ${input.notifications.length} alert notification${input.notifications.length === 1 ? "" : "s"} in ${groups} group${groups === 1 ? "" : "s"}.`;
  const tail = ` <${input.link}>`;
  const room = budget - utf8Length(head) - utf8Length(tail);
  const firing = input.firingNow.length ? ` FIRING now: ${countByName(input.firingNow, Math.floor(room * 0.7) - 12)}.` : " Nothing firing now.";
  const resolved = resolvedGroups.length ? ` RESOLVED: ${countByName(resolvedGroups.flatMap((n) => n.alerts), Math.max(20, room - utf8Length(firing) - 11))}.` : "";
  return fitBytes(`${head}${firing}${resolved}`, budget - utf8Length(tail)) + tail;
}
