// The fleet grid in HTML: cells, legend and progress rendered on the server (the page reads without
// JavaScript), cell patches for the live stream and the replay (the same shape: a snapshot is a patch
// of every cell), the grid's CSS, and the small inline script that applies patches, follows the
// server-sent event stream and plays a journal replay. Pure: grid in, strings out; every value escaped.

import { formatDuration } from "../fleet/engine.js";
import { describeCell, STATES, type Cell, type CellState, type FleetGrid, type LegendEntry, type Section } from "./fleet-grid.js";
import { escapeHtml as e } from "./linkify.js";

/** One cell as the browser applies it: state, colour (legend index, "u" unknown), letter, hover text. */
export interface CellPatch {
  readonly k: string;
  readonly s: CellState;
  readonly c: number | "u";
  readonly l: string;
  readonly t: string;
}

/** What one stream message or replay frame carries: changed cells, and blocks of HTML replaced whole by id. */
export interface GridPatch {
  cells: CellPatch[];
  html: Record<string, string>;
}

const domId = (prefix: string, app: string) => `${prefix}-${app.replace(/[^\w-]/g, "_")}`;
export const legendId = (app: string) => domId("legend", app);
export const progressId = (app: string) => domId("progress", app);

export function cellPatch(c: Cell, legend: readonly LegendEntry[]): CellPatch {
  const colour = legend.find((l) => l.sha === c.release)?.colour;
  return { k: c.key, s: c.state, c: colour ?? "u", l: STATES[c.state].letter, t: describeCell(c, legend) };
}

/**
 * One element, one text node, three attributes. The cell's name for assistive technology (host,
 * state and release in words) is not in the HTML: the script sets it from the hover text when the
 * cell takes the focus (and keeps the focused cell's current).
 */
function cellHtml(p: CellPatch): string {
  return `<i class="c s-${p.s} r${p.c}" data-k="${e(p.k)}" role="gridcell">${e(p.l)}</i>`;
}

function age(iso: string, now: number): string {
  return `${formatDuration(Math.max(0, now - Date.parse(iso)))} ago`;
}

export function legendHtml(app: string, legend: readonly LegendEntry[], now: number): string {
  const items = legend.map((l) => {
    const which = l.colour === 0 ? "newest" : l.colour === 1 ? "previous" : "older";
    return `<li data-sha="${e(l.sha)}"><i class="c r${l.colour}" aria-hidden="true"></i> <code>${e(l.sha.slice(0, 7))}</code> <strong>${which}</strong>, ${l.deployedAt ? `shipped ${e(age(l.deployedAt, now))}` : "shipped outside tugboat"}, ${l.hosts} host${l.hosts === 1 ? "" : "s"}</li>`;
  });
  items.push(`<li><i class="c ru" aria-hidden="true"></i> release not known</li>`);
  return `<ul class="legend" id="${legendId(app)}">${items.join("")}</ul>`;
}

/** The deploy's progress line (live only: a replay has no stage events) and the counts per state. */
export function progressHtml(app: string, grid: FleetGrid, withLine = true): string {
  const p = withLine ? grid.progress(app) : null;
  const counts = Object.entries(grid.counts(app))
    .map(([s, n]) => `<span class="count s-${s}">${n} ${STATES[s as CellState].label}</span>`)
    .join(", ");
  const line = p ? `<span class="line">${e(p.done ? (p.summary ?? p.line) : p.line)}</span>` : "";
  const bar = p && !p.done ? ` <progress max="100" value="${Math.round(p.fraction * 100)}">${Math.round(p.fraction * 100)}%</progress>` : "";
  const state = p ? (p.done ? "finished" : "running") : "none";
  return `<div class="progress" id="${progressId(app)}" data-deploy="${p?.deployId ?? ""}" data-state="${state}">${line}${bar}<div class="counts">${counts}</div></div>`;
}

/** The patch of the given cells (and the app blocks), as the stream sends it. */
export function gridPatch(grid: FleetGrid, keys: Iterable<string>, apps: Iterable<string>, now: number, withLine = true): GridPatch {
  const legends = new Map<string, LegendEntry[]>();
  const legendOf = (app: string) => legends.get(app) ?? legends.set(app, grid.legend(app)).get(app)!;
  const cells: CellPatch[] = [];
  for (const k of keys) {
    const c = grid.cells.get(k);
    if (c) cells.push(cellPatch(c, legendOf(c.app)));
  }
  const html: Record<string, string> = {};
  for (const app of apps) {
    html[legendId(app)] = legendHtml(app, legendOf(app), now);
    html[progressId(app)] = progressHtml(app, grid, withLine);
  }
  return { cells, html };
}

/**
 * The apps' sections of cells. The hover texts go in one JSON element rather than 1,000 title
 * attributes: a smaller DOM that parses and lays out faster, and a hover panel that shows error tails.
 */
export function sectionsHtml(grid: FleetGrid, sections: readonly Section[], now: number, withLine = true): string {
  const byApp = new Map<string, Section[]>();
  for (const s of sections) byApp.set(s.app, [...(byApp.get(s.app) ?? []), s]);
  const texts: Record<string, string> = {};
  const html = [...byApp]
    .map(([app, secs]) => {
      const legend = grid.legend(app);
      const groups = secs
        .map((s) => {
          const patches = s.keys.map((k) => cellPatch(grid.cells.get(k)!, legend));
          for (const p of patches) texts[p.k] = p.t;
          // A grid of one row: the cells wrap to the width of the window, and the arrow keys follow what is seen.
          return `<h3>${e(s.title)} <span class="muted">(${s.keys.length})</span></h3><div class="grid" role="grid" aria-label="${e(`${app} ${s.title}`)}"><div class="row" role="row">${patches.map(cellHtml).join("")}</div></div>`;
        })
        .join("\n");
      return `<section class="app" data-app="${e(app)}"><h2>${e(app)}</h2>${progressHtml(app, grid, withLine)}${legendHtml(app, legend, now)}${groups}</section>`;
    })
    .join("\n");
  return `${html}\n<script type="application/json" id="cell-text">${scriptJson(texts)}</script>`;
}

/** JSON inside a <script> element: "<" is escaped so no value can close the element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

/** The detail panel hover and focus show, and a click, Enter or Space pins (the script fills it). */
export const DETAIL_PANEL = `<aside id="cell-detail" hidden aria-live="polite" aria-label="Host details"><button type="button" hidden>close</button><pre></pre></aside>`;

/** How to use the grid from the keyboard, next to the state key. */
export const KEYS_HINT = `<p class="key" id="grid-keys">Keyboard: Tab to the grid, arrow keys move, Home/End go to a section's first/last host, Enter or Space pins a host's details, Escape closes them.</p>`;

export const STATE_KEY = `<p class="key">${(Object.keys(STATES) as CellState[]).map((s) => `<span class="c s-${s} rk">${e(STATES[s].letter)}</span>&nbsp;${e(STATES[s].label)}`).join(" &nbsp; ")}</p>`;

// Okabe-Ito colours (told apart with the common colour-vision deficiencies): newest blue, previous
// orange. Failed, timed out and unreachable cells get a heavy frame, in-progress ones a dashed one;
// the letter says which. Cells are square tracks of a CSS grid with square corners (a little cheaper
// than rounded flex items in CPU-time traces, within the noise in wall time: bench/README.md,
// fleet-page). Containment on the cells themselves cost more than it saved (a paint container each). The
// grid's padding keeps the focus ring inside its paint containment (a ring past the edge is clipped).
export const GRID_CSS = `
main.wrap.wide{max-width:none}
.grid{margin:calc(.25rem - 4px) -4px calc(1rem - 4px);padding:4px;contain:content}.grid>.row{display:grid;grid-template-columns:repeat(auto-fill,1.35rem);gap:2px}
.grid .c{border-radius:0}
.c{display:inline-block;width:1.35rem;height:1.35rem;line-height:1.35rem;text-align:center;font:700 .8rem/1.35rem var(--mono);
font-style:normal;border-radius:3px;cursor:pointer;user-select:none;outline:none}
.grid .c:focus-visible{position:relative;z-index:1;box-shadow:0 0 0 2px var(--bg),0 0 0 4px var(--link)}
.r0{background:#0072b2;color:#fff}.r1{background:#e69f00;color:#000}.r2{background:#009e73;color:#fff}.r3{background:#cc79a7;color:#000}
.r4{background:#56b4e9;color:#000}.r5{background:#d55e00;color:#fff}.r6{background:#f0e442;color:#000}
.ru{background:#c8c8c8;color:#000}.rk{background:var(--head-bg);color:var(--fg);border:1px solid var(--line)}
.c.s-preparing,.c.s-switching,.c.s-restarting,.c.s-checking{outline:2px dashed var(--fg);outline-offset:-2px}
.c.s-failed,.c.s-timeout,.c.s-unreachable{outline:3px solid var(--fg);outline-offset:-3px}
ul.legend{list-style:none;padding:0;margin:.25rem 0 .5rem;display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;font-size:.9rem}
ul.legend .c{width:1rem;height:1rem;vertical-align:-2px;cursor:default}
.key{font-size:.85rem;color:var(--muted)}.key .c{cursor:default}
.progress{font-size:.9rem;margin:.25rem 0}.progress progress{width:12rem;vertical-align:middle}.counts{color:var(--muted)}
h2{margin:1.5rem 0 .25rem}h3{font-size:.95rem;margin:.5rem 0 .15rem}
#cell-detail{position:fixed;right:1rem;bottom:1rem;max-width:min(40rem,90vw);background:var(--bg);border:1px solid var(--line);
border-radius:8px;padding:.5rem .75rem;box-shadow:0 4px 16px rgba(0,0,0,.25)}
#cell-detail pre{margin:.25rem 0 0;white-space:pre-wrap;max-height:40vh;overflow:auto}
#cell-detail button{width:auto;min-height:0;padding:.1rem .5rem;float:right}
.live{font-size:.85rem}.live[data-state=live]::before{content:"● "}.live[data-state=reconnecting]{color:var(--err-fg)}
.replay{display:flex;gap:.5rem;align-items:center}.replay input{flex:1}.replay button{width:auto}
`;

// Applies patches in one animation frame (a burst of messages costs one layout), keeps the detail
// panel of a clicked cell current, and follows the stream: the browser's EventSource reconnects by
// itself and sends Last-Event-ID, and the server answers with what was missed (or a snapshot).
// Keyboard: one cell of the page is in the tab order (roving tabindex); arrows move by what is seen
// (up and down by the wrapped row's width), Enter or Space pin the details, Escape closes them.
// Nothing on the way to the first paint that can wait: the hover texts are parsed when first needed,
// and a cell's accessible name is set when it takes the focus (on 1,000 cells up front it cost more
// than the rest of the script: see bench/README.md).
export const GRID_SCRIPT = `(() => {
const root = document.getElementById("fleet");
const cells = new Map();
for (const el of root.querySelectorAll("i.c[data-k]")) cells.set(el.dataset.k, el);
let parsed = null;
const texts = () => parsed || (parsed = JSON.parse(document.getElementById("cell-text").textContent));
// "web04 (api): failed" and "release abc1234 (newest)": host, state and release in words.
const label = (t) => (t || "").split("\\n").slice(0, 2).join(", ");
const detail = document.getElementById("cell-detail");
const pre = detail.querySelector("pre"), close = detail.querySelector("button");
// Hover or focus shows a cell's details; a click, Enter or Space pins them until closed.
let hover = null, pinned = null;
const cellOf = (ev) => ev.target.closest && ev.target.closest("i.c[data-k]");
const show = (k) => { pre.textContent = texts()[k] || ""; detail.hidden = false; close.hidden = pinned === null; };
const hide = () => { pinned = null; hover = null; detail.hidden = true; };
root.addEventListener("mouseover", (ev) => { const el = cellOf(ev); if (el && pinned === null) show(hover = el.dataset.k); });
root.addEventListener("mouseout", (ev) => { if (cellOf(ev) && pinned === null) { hover = null; detail.hidden = true; } });
root.addEventListener("click", (ev) => { const el = cellOf(ev); if (el) show(pinned = el.dataset.k); });
// Back to the cell the panel was about, without showing the panel again on that focus.
let quiet = false;
close.addEventListener("click", () => { hide(); if (current) { quiet = true; current.focus(); quiet = false; } });
// The roving tab stop: the first cell until another is focused.
let current = cells.values().next().value || null;
if (current) current.tabIndex = 0;
// Only the current cell has a tabindex in the page: another gets one as it takes the focus.
const focusCell = (el) => {
  if (!el) return;
  el.tabIndex = 0;
  el.focus();
};
root.addEventListener("focusin", (ev) => {
  const el = cellOf(ev);
  if (!el) return;
  if (current && current !== el) current.tabIndex = -1;
  el.tabIndex = 0;
  current = el;
  el.setAttribute("aria-label", label(texts()[el.dataset.k]));
  if (pinned === null && !quiet) show(hover = el.dataset.k);
});
root.addEventListener("focusout", (ev) => { if (pinned === null && !(ev.relatedTarget && ev.relatedTarget.closest && ev.relatedTarget.closest("i.c[data-k]"))) { hover = null; detail.hidden = true; } });
// Cells of the wrapped row above or below: the row's width in cells is counted from the layout.
const perRow = (list) => { let n = 1; while (n < list.length && list[n].offsetTop === list[0].offsetTop) n++; return n; };
const target = (el, key, ctrl) => {
  const row = el.parentElement, list = row.children, i = Array.prototype.indexOf.call(list, el);
  const rows = [...root.querySelectorAll(".grid > .row")], r = rows.indexOf(row);
  const cols = perRow(list), col = i % cols;
  if (key === "ArrowRight") return list[i + 1] || (rows[r + 1] && rows[r + 1].children[0]);
  if (key === "ArrowLeft") return list[i - 1] || (rows[r - 1] && rows[r - 1].lastElementChild);
  if (key === "Home") return ctrl ? rows[0].children[0] : list[0];
  if (key === "End") return ctrl ? rows[rows.length - 1].lastElementChild : list[list.length - 1];
  if (key === "ArrowDown") {
    if (i + cols < list.length) return list[i + cols];
    if (Math.floor(i / cols) < Math.floor((list.length - 1) / cols)) return list[list.length - 1];
    const next = rows[r + 1] && rows[r + 1].children;
    return next && next[Math.min(col, next.length - 1)];
  }
  if (key === "ArrowUp") {
    if (i - cols >= 0) return list[i - cols];
    const prev = rows[r - 1] && rows[r - 1].children;
    if (!prev) return null;
    const pc = perRow(prev), last = Math.floor((prev.length - 1) / pc) * pc;
    return prev[Math.min(last + col, prev.length - 1)];
  }
  return null;
};
root.addEventListener("keydown", (ev) => {
  const el = cellOf(ev);
  if (!el) return;
  if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); show(pinned = el.dataset.k); return; }
  if (ev.key === "Escape") { if (!detail.hidden) { ev.preventDefault(); hide(); } return; }
  const to = target(el, ev.key, ev.ctrlKey || ev.metaKey);
  if (to === null) return;
  ev.preventDefault();
  focusCell(to);
});
const apply = (p) => {
  const t = p.cells.length ? texts() : null;
  for (const c of p.cells) {
    const el = cells.get(c.k);
    if (!el) continue;
    const cls = "c s-" + c.s + " r" + c.c;
    if (el.className !== cls) el.className = cls;
    if (el.textContent !== c.l) el.textContent = c.l;
    if (el === current && el.hasAttribute("aria-label") && t[c.k] !== c.t) el.setAttribute("aria-label", label(c.t));
    t[c.k] = c.t;
    if (c.k === pinned || (pinned === null && c.k === hover)) pre.textContent = c.t;
  }
  for (const id in p.html) { const el = document.getElementById(id); if (el) el.outerHTML = p.html[id]; }
};
let queue = [], frame = 0;
const enqueue = (p) => {
  queue.push(p);
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; const q = queue; queue = []; for (const x of q) apply(x); });
};
const api = { apply, enqueue, messages: 0, opens: 0, text: (k) => texts()[k] };
window.tugboatGrid = api;
const live = document.getElementById("fleet-live");
// EventSource gives up for good on an HTTP error (a proxy's 502, say): start a new one from the last id.
const connect = () => {
  const es = new EventSource(root.dataset.stream.replace(/([?&]since=)[^&]*/, "$1" + encodeURIComponent(root.dataset.seq)));
  api.es = es;
  es.addEventListener("open", () => { api.opens++; live.dataset.state = "live"; live.textContent = "live"; });
  es.addEventListener("error", () => {
    live.dataset.state = "reconnecting"; live.textContent = "reconnecting…";
    if (es.readyState === EventSource.CLOSED) setTimeout(() => { if (api.es === es) connect(); }, 2000);
  });
  es.addEventListener("grid", (m) => { api.messages++; root.dataset.seq = m.lastEventId; enqueue(JSON.parse(m.data)); });
};
if (root.dataset.stream) {
  api.reconnect = () => { api.es.close(); connect(); };
  connect();
}
const data = document.getElementById("replay-frames");
if (data) {
  const frames = JSON.parse(data.textContent);
  const pos = document.getElementById("replay-pos"), play = document.getElementById("replay-play"), at = document.getElementById("replay-at");
  const show = (k) => { for (let i = 0; i <= k; i++) apply(frames[i]); pos.value = k; at.textContent = frames[k].at; root.dataset.frame = k; };
  pos.addEventListener("input", () => { stop(); show(Number(pos.value)); });
  let timer = 0;
  const stop = () => { clearTimeout(timer); timer = 0; play.textContent = "Play"; };
  play.addEventListener("click", () => {
    if (timer) return stop();
    play.textContent = "Pause";
    let k = Number(pos.value) >= frames.length - 1 ? 0 : Number(pos.value);
    show(k);
    // The whole deploy in about ten seconds, whatever it took.
    const span = Math.max(1, Date.parse(frames[frames.length - 1].at) - Date.parse(frames[0].at));
    const next = () => {
      if (k >= frames.length - 1) return stop();
      const wait = Math.min(1000, ((Date.parse(frames[k + 1].at) - Date.parse(frames[k].at)) / span) * 10000);
      timer = setTimeout(() => { k++; apply(frames[k]); pos.value = k; at.textContent = frames[k].at; root.dataset.frame = k; next(); }, wait);
    };
    next();
  });
  api.replay = { frames: frames.length, show };
}
})();`;
