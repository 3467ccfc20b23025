// Server-rendered SAL pages: the searchable day-grouped log, an entry's permalink page and the
// not-found page. Pure: entries, query and cursor come in, an HTML string goes out. Every
// user-supplied value (messages, nicks, query echoes) goes through escapeHtml or linkify, and
// every query string is built with URLSearchParams.
import type { SalEntry } from "../sal/entry.js";
import { layout, sitePath } from "./layout.js";
import { escapeHtml, linkify, type LinkRules } from "./linkify.js";

export interface SalQuery {
  q?: string;
  nick?: string;
  project?: string;
  /** YYYY-MM-DD: entries on or before this UTC day. */
  before?: string;
}

export interface SalPageInput {
  /** Newest first, as the store returned them. */
  entries: SalEntry[];
  query: SalQuery;
  nextCursor: string | null;
  projects: string[];
  rules: LinkRules;
  baseUrl: string;
  /** A problem with the query to show above the results (e.g. a malformed date). */
  error?: string;
}

interface UtcTime {
  day: string;
  hhmm: string;
  iso: string;
  readable: string;
}

// Spelled out by hand rather than Intl, whose wording shifts between ICU versions.
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** "Thursday, 26 November 2026, 13:34:36 UTC" */
function readable(d: Date, iso: string): string {
  const date = `${WEEKDAYS[d.getUTCDay()] ?? ""}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()] ?? ""} ${d.getUTCFullYear()}`;
  return `${date}, ${iso.slice(11, 19)} UTC`;
}

function utc(time: string): UtcTime {
  const d = new Date(time);
  // A malformed stored time is shown as-is rather than hiding the entry.
  if (Number.isNaN(d.getTime())) return { day: time.slice(0, 10), hhmm: time.slice(11, 16), iso: time, readable: time };
  const iso = d.toISOString();
  return { day: iso.slice(0, 10), hhmm: iso.slice(11, 16), iso, readable: readable(d, iso) };
}

/** An escaped, site-relative href with a query string; empty values are left out. */
function href(baseUrl: string, path: string, params: Record<string, string | undefined> = {}, hash = ""): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") search.set(k, v);
  const qs = search.toString();
  return escapeHtml(`${sitePath(baseUrl, path)}${qs === "" ? "" : `?${qs}`}${hash}`);
}

function sourceNote(e: SalEntry): string | null {
  if (e.source === "irc") return null;
  return e.identity === null ? `via ${e.source}` : `via ${e.source}: ${e.identity}`;
}

function entryLine(e: SalEntry, rules: LinkRules, baseUrl: string): string {
  const t = utc(e.time);
  const meta: string[] = [];
  if (e.project !== null) {
    meta.push(`<a class="tag" href="${href(baseUrl, "/", { project: e.project })}">${escapeHtml(e.project)}</a>`);
  }
  const via = sourceNote(e);
  if (via !== null) meta.push(`<span class="meta">${escapeHtml(via)}</span>`);
  if (e.deployId !== null) {
    meta.push(`<a class="deploy" href="${href(baseUrl, `/deploys/${e.deployId}`)}">deploy ${e.deployId}</a>`);
  }
  return (
    `<li class="entry" id="e${e.id}">` +
    `<a class="time" href="${href(baseUrl, `/log/${e.id}`)}" title="${escapeHtml(t.iso)}">${escapeHtml(t.hhmm)}</a> ` +
    `<a class="nick" href="${href(baseUrl, "/", { nick: e.nick })}">${escapeHtml(e.nick)}</a>: ` +
    `<span class="msg">${linkify(e.message, rules)}</span>` +
    (meta.length === 0 ? "" : ` ${meta.join(" ")}`) +
    `</li>`
  );
}

function searchForm(query: SalQuery, projects: string[], baseUrl: string): string {
  const value = (v: string | undefined): string => escapeHtml(v ?? "");
  // Keep a filtered project selectable even if it is no longer in the list.
  const names = query.project && !projects.includes(query.project) ? [...projects, query.project] : projects;
  const options = names
    .map((p) => `<option value="${escapeHtml(p)}"${p === query.project ? " selected" : ""}>${escapeHtml(p)}</option>`)
    .join("");
  return `<form class="search" method="get" action="${href(baseUrl, "/")}" role="search">
<label class="q">Search messages<input type="search" name="q" value="${value(query.q)}" placeholder="e.g. restarted, T1234, deploy1001"></label>
<label>Nick<input type="text" name="nick" value="${value(query.nick)}" autocapitalize="off" autocorrect="off" spellcheck="false"></label>
<label>Project<select name="project"><option value="">All projects</option>${options}</select></label>
<label>On or before<input type="date" name="before" value="${value(query.before)}"></label>
<button type="submit">Search</button>
</form>`;
}

function groupByDay(entries: SalEntry[]): Array<{ day: string; entries: SalEntry[] }> {
  const groups: Array<{ day: string; entries: SalEntry[] }> = [];
  for (const e of entries) {
    const day = utc(e.time).day;
    const last = groups.at(-1);
    if (last !== undefined && last.day === day) last.entries.push(e);
    else groups.push({ day, entries: [e] });
  }
  return groups;
}

function isFiltered(q: SalQuery): boolean {
  return [q.q, q.nick, q.project, q.before].some((v) => v !== undefined && v !== "");
}

export function renderSalPage(input: SalPageInput): string {
  const { entries, query, rules, baseUrl } = input;
  const parts: string[] = [`<h1>Server Admin Log</h1>`, searchForm(query, input.projects, baseUrl)];
  if (input.error !== undefined) parts.push(`<p class="error" role="alert">${escapeHtml(input.error)}</p>`);

  if (entries.length === 0) {
    const reset = isFiltered(query) ? ` <a href="${href(baseUrl, "/")}">Show the latest entries</a>.` : "";
    parts.push(`<p class="notice">No entries match${isFiltered(query) ? " these filters" : " yet"}.${reset}</p>`);
  }
  for (const group of groupByDay(entries)) {
    parts.push(
      `<section aria-labelledby="d${escapeHtml(group.day)}"><h2 class="day" id="d${escapeHtml(group.day)}">${escapeHtml(group.day)}</h2>`,
      `<ul class="entries">${group.entries.map((e) => entryLine(e, rules, baseUrl)).join("\n")}</ul></section>`,
    );
  }
  if (input.nextCursor !== null) {
    const next = href(baseUrl, "/", { ...query, cursor: input.nextCursor });
    parts.push(`<p class="pager"><a href="${next}" rel="next">Older entries →</a></p>`);
  }
  return layout({ title: "Server Admin Log", body: parts.join("\n"), baseUrl });
}

function field(label: string, valueHtml: string | null): string {
  return valueHtml === null ? "" : `<dt>${label}</dt><dd>${valueHtml}</dd>`;
}

function text(v: string | null): string | null {
  return v === null ? null : escapeHtml(v);
}

function taskHtml(task: string | null, rules: LinkRules): string | null {
  if (task === null) return null;
  if (rules.taskUrl === null) return escapeHtml(task);
  const url = rules.taskUrl.split("{id}").join(encodeURIComponent(task));
  return `<a href="${escapeHtml(url)}" rel="nofollow noopener">${escapeHtml(task)}</a>`;
}

export function renderEntryPage(entry: SalEntry, rules: LinkRules, baseUrl: string): string {
  const t = utc(entry.time);
  const dayHref = href(baseUrl, "/", { before: t.day }, `#e${entry.id}`);
  const deploy =
    entry.deployId === null ? null : `<a href="${href(baseUrl, `/deploys/${entry.deployId}`)}">deploy ${entry.deployId}</a>`;
  const project =
    entry.project === null
      ? null
      : `<a class="tag" href="${href(baseUrl, "/", { project: entry.project })}">${escapeHtml(entry.project)}</a>`;
  const body = `<h1>SAL entry #${entry.id}</h1>
<p class="message"><a class="nick" href="${href(baseUrl, "/", { nick: entry.nick })}">${escapeHtml(entry.nick)}</a>: ${linkify(entry.message, rules)}</p>
<dl class="fields">
${field("Time (UTC)", `<time datetime="${escapeHtml(t.iso)}">${escapeHtml(t.iso)}</time><br><span class="muted">${escapeHtml(t.readable)}</span>`)}
${field("Nick", escapeHtml(entry.nick))}
${field("Account", text(entry.account))}
${field("Host mask", entry.mask === null ? null : `<code>${escapeHtml(entry.mask)}</code>`)}
${field("Channel", text(entry.channel))}
${field("Project", project)}
${field("Source", escapeHtml(entry.source))}
${field("Identity", text(entry.identity))}
${field("Task", taskHtml(entry.task, rules))}
${field("Deploy", deploy)}
</dl>
<p><a href="${dayHref}">← ${escapeHtml(t.day)} in the log</a></p>`;
  return layout({ title: `SAL #${entry.id}: ${entry.nick}`, body, baseUrl });
}

export function renderNotFound(message: string, baseUrl: string): string {
  const body = `<h1>Not found</h1>
<p class="notice">${escapeHtml(message)}</p>
<p><a href="${href(baseUrl, "/")}">Back to the Server Admin Log</a></p>`;
  return layout({ title: "Not found", body, baseUrl });
}
