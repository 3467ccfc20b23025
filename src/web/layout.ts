// The HTML5 shell every tugboat page shares: head (viewport, inline CSS, Atom discovery), the
// site header with navigation, and a readable main column. Callers pass `body` as finished,
// escaped HTML; the title is escaped here. Paths are rooted at baseUrl's path, so the site can
// live under a prefix (https://example.org/tugboat/).
import { escapeHtml } from "./linkify.js";

export interface LayoutInput {
  title: string;
  /** Finished HTML for <main>. */
  body: string;
  /** Public URL of the site root, e.g. "https://sal.example.org". */
  baseUrl: string;
  /** Extra trusted HTML for <head> (e.g. a canonical link). */
  head?: string;
}

/** Site-relative href for `path` ("/log/1"), honouring a path prefix in baseUrl. */
export function sitePath(baseUrl: string, path: string): string {
  const prefix = new URL(baseUrl).pathname.replace(/\/+$/, "");
  return `${prefix}${path}`;
}

/** Absolute URL for `path`, for feeds and canonical links. */
export function absoluteUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, "")}${path}`;
}

const NAV: ReadonlyArray<readonly [string, string]> = [
  ["SAL", "/"],
  ["Deploys", "/deploys"],
  ["Fleet", "/fleet"],
  ["Commands", "/help"],
];

// Colours chosen for >= 7:1 contrast on text and >= 4.5:1 on muted text, in both schemes.
const CSS = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1b1b;--muted:#595959;--line:#d9d9d9;
--link:#0645ad;--visited:#5a3696;--tag-bg:#e8eefb;--tag-fg:#1d3f86;--head-bg:#f4f6f8;
--err-bg:#fdecea;--err-fg:#8a1c12;--hl:#fff6c7;
--sans:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif;
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
@media (prefers-color-scheme:dark){:root{--bg:#121417;--fg:#e7e9ec;--muted:#a6adb5;--line:#30353b;
--link:#8ab4f8;--visited:#c3a6f5;--tag-bg:#1f2a3d;--tag-fg:#b9cdf5;--head-bg:#1a1d21;
--err-bg:#3b1714;--err-fg:#ffb4a9;--hl:#3a3413}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.55 var(--sans)}
a{color:var(--link)}a:visited{color:var(--visited)}
a:focus-visible,input:focus-visible,select:focus-visible,button:focus-visible{outline:2px solid var(--link);outline-offset:2px}
.site{background:var(--head-bg);border-bottom:1px solid var(--line)}
.site .wrap{display:flex;flex-wrap:wrap;align-items:baseline;gap:.25rem 1.25rem;padding-block:.6rem}
a.brand,a.brand:visited{font-weight:700;font-size:1.15rem;text-decoration:none;color:var(--fg)}
.site nav a{margin-right:1rem;text-decoration:none;font-weight:500}
.site nav a:hover{text-decoration:underline}
.wrap{max-width:72ch;margin:0 auto;padding-inline:1rem}
main{padding-block:1rem 3rem}
h1{font-size:1.4rem;margin:.5rem 0 1rem}
h2.day{font:600 1rem/1.4 var(--mono);margin:1.75rem 0 .4rem;padding-bottom:.25rem;border-bottom:1px solid var(--line)}
.muted,.meta{color:var(--muted)}
.mono,.time,.sha,code,time{font-family:var(--mono);font-size:.92em}
form.search{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.5rem;margin-bottom:1rem}
form.search .q{grid-column:1/-1}
form.search label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted);gap:.15rem}
input,select,button{font:inherit;font-size:1rem;color:var(--fg);background:var(--bg);border:1px solid var(--line);
border-radius:6px;padding:.45rem .55rem;min-height:2.5rem;width:100%}
button{background:var(--link);color:var(--bg);border-color:var(--link);font-weight:600;cursor:pointer;align-self:end}
ul.entries{list-style:none;margin:0;padding:0}
.entry{padding:.3rem 0 .3rem 6.5ch;text-indent:-6.5ch;overflow-wrap:anywhere}
.entry:target{background:var(--hl);border-radius:4px}
.entry .time{text-decoration:none;color:var(--muted)}
.entry .time:hover{text-decoration:underline}
a.nick,a.nick:visited{font-weight:600;color:var(--fg);text-decoration:none}
a.nick:hover{text-decoration:underline}
.tag{display:inline-block;text-indent:0;font-size:.78rem;line-height:1.5;padding:0 .45rem;border-radius:999px;
background:var(--tag-bg);text-decoration:none;vertical-align:1px}
a.tag,a.tag:visited{color:var(--tag-fg)}
.meta,.deploy{font-size:.85rem}
.pager{margin-top:1.5rem}
.notice{padding:1rem;border:1px dashed var(--line);border-radius:8px;text-align:center}
.error{padding:.6rem .8rem;border-radius:6px;background:var(--err-bg);color:var(--err-fg);margin-bottom:1rem}
dl.fields{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:1rem 0}
dl.fields dt{color:var(--muted)}dl.fields dd{margin:0;overflow-wrap:anywhere}
.message{font-size:1.1rem;overflow-wrap:anywhere;margin:.5rem 0 1rem}
pre{font-family:var(--mono);font-size:.9rem;background:var(--head-bg);border:1px solid var(--line);border-radius:6px;padding:.75rem;overflow-x:auto}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid var(--line)}
@media (max-width:480px){body{font-size:15px}dl.fields{grid-template-columns:1fr}dl.fields dd{margin-bottom:.4rem}}
`;

export function layout(input: LayoutInput): string {
  const nav = NAV.map(([label, path]) => `<a href="${escapeHtml(sitePath(input.baseUrl, path))}">${label}</a>`).join("");
  const feed = escapeHtml(sitePath(input.baseUrl, "/feed.atom"));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)} · tugboat</title>
<link rel="alternate" type="application/atom+xml" title="Server Admin Log" href="${feed}">
<style>${CSS}</style>
${input.head ?? ""}
</head>
<body>
<header class="site"><div class="wrap">
<a class="brand" href="${escapeHtml(sitePath(input.baseUrl, "/"))}">tugboat</a>
<nav aria-label="Site">${nav}</nav>
</div></header>
<main class="wrap">
${input.body}
</main>
</body>
</html>
`;
}
