// Turns a plain SAL message into safe HTML: escape every character first, then add links
// (http/https URLs, task ids, git SHAs) to the already-escaped text. The old SAL tool linkified
// raw text and escaped afterwards, which let a crafted URL break out of its href: never again.
// Each pass only looks at text no earlier pass has linked, so nothing is linked twice.

export interface LinkRules {
  /** Task ids such as /\bT\d+\b/; null disables task links. */
  taskPattern: RegExp | null;
  /** URL template with {id}, e.g. "https://phabricator.wikimedia.org/{id}". */
  taskUrl: string | null;
  /** URL template with {sha}, e.g. "https://gerrit.example.org/r/q/{sha}". */
  commitUrl: string | null;
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** A run of output HTML; `linked` runs are finished and never scanned again. */
interface Piece {
  readonly html: string;
  readonly linked: boolean;
}

// Runs over escaped text, so `"`, `<` and `>` only appear as &quot; &lt; &gt;, and those end a
// URL. `&amp;` and `&#39;` (a literal & or ') stay inside it, already correct for an href.
const URL_RE = /\bhttps?:\/\/(?:[^\s&]|&amp;|&#39;)+/gi;
const ENTITY_RE = /(&(?:amp|lt|gt|quot|#39);)/;
// Lowercase hex as git prints it; the digit+letter check happens in isSha.
const SHA_RE = /\b[0-9a-f]{7,40}\b/g;

function anchor(href: string, text: string, cls?: string): string {
  const classAttr = cls === undefined ? "" : ` class="${cls}"`;
  return `<a href="${href}"${classAttr} rel="nofollow noopener">${text}</a>`;
}

/** Fills {key} in a configured template; split/join so `$` in the value is not special. */
function fillTemplate(template: string, key: string, value: string): string {
  return escapeHtml(template.split(`{${key}}`).join(encodeURIComponent(value)));
}

function count(s: string, c: string): number {
  return s.split(c).length - 1;
}

/** Drops sentence punctuation, a closing quote and an unbalanced `)` from the end of a URL. */
function trimUrl(url: string): string {
  let u = url;
  for (;;) {
    if (u.endsWith("&#39;")) u = u.slice(0, -5);
    else if (/[.,:!?]$/.test(u) || (u.endsWith(";") && !u.endsWith("&amp;"))) u = u.slice(0, -1);
    else if (u.endsWith(")") && count(u, ")") > count(u, "(")) u = u.slice(0, -1);
    else return u;
  }
}

/** Applies `link` to every match of `re` in the unlinked pieces; `link` returns null to skip. */
function linkPass(pieces: Piece[], re: RegExp, link: (m: string) => { html: string; len: number } | null): Piece[] {
  const out: Piece[] = [];
  for (const piece of pieces) {
    if (piece.linked) {
      out.push(piece);
      continue;
    }
    let last = 0;
    for (const m of piece.html.matchAll(re)) {
      const start = m.index;
      const made = link(m[0]);
      if (made === null || made.len === 0) continue;
      if (start > last) out.push({ html: piece.html.slice(last, start), linked: false });
      out.push({ html: made.html, linked: true });
      last = start + made.len;
    }
    if (last < piece.html.length) out.push({ html: piece.html.slice(last), linked: false });
  }
  return out;
}

/** Splits entities off into finished pieces so task/SHA patterns never match inside `&#39;`. */
function isolateEntities(pieces: Piece[]): Piece[] {
  return pieces.flatMap((p) =>
    p.linked ? [p] : p.html.split(ENTITY_RE).filter((s) => s !== "").map((s) => ({ html: s, linked: ENTITY_RE.test(s) })),
  );
}

function isSha(s: string): boolean {
  return /[0-9]/.test(s) && /[a-f]/.test(s);
}

function globalCopy(re: RegExp): RegExp {
  return new RegExp(re.source, re.flags.includes("g") ? re.flags : `${re.flags}g`);
}

export function linkify(text: string, rules: LinkRules): string {
  let pieces: Piece[] = [{ html: escapeHtml(text), linked: false }];

  pieces = linkPass(pieces, URL_RE, (m) => {
    const url = trimUrl(m);
    if (/^https?:\/\/$/i.test(url)) return null;
    return { html: anchor(url, url), len: url.length };
  });
  pieces = isolateEntities(pieces);

  const { taskPattern, taskUrl, commitUrl } = rules;
  if (taskPattern !== null && taskUrl !== null) {
    pieces = linkPass(pieces, globalCopy(taskPattern), (m) => ({
      html: anchor(fillTemplate(taskUrl, "id", m), m, "task"),
      len: m.length,
    }));
  }
  if (commitUrl !== null) {
    pieces = linkPass(pieces, SHA_RE, (m) =>
      isSha(m) ? { html: anchor(fillTemplate(commitUrl, "sha", m), m, "sha"), len: m.length } : null,
    );
  }
  return pieces.map((p) => p.html).join("");
}
