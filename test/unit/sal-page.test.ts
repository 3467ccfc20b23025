// SAL pages as a reader sees them: day headings, wiki-style lines, filters echoed safely,
// paging that keeps filters, permalink pages with every field, and no unescaped user input.
import { describe, expect, it } from "vitest";
import type { SalEntry } from "../../src/sal/entry.js";
import { layout } from "../../src/web/layout.js";
import type { LinkRules } from "../../src/web/linkify.js";
import { renderEntryPage, renderNotFound, renderSalPage, type SalPageInput } from "../../src/web/sal-page.js";

const rules: LinkRules = {
  taskPattern: /\bT\d+\b/,
  taskUrl: "https://phabricator.wikimedia.org/{id}",
  commitUrl: "https://gerrit.example.org/r/q/{sha}",
};
const baseUrl = "https://sal.example.org";

function entry(over: Partial<SalEntry> & Pick<SalEntry, "id" | "time" | "message">): SalEntry {
  return {
    nick: "alice",
    account: "Alice",
    mask: "alice!~alice@wikimedia/alice",
    channel: "#wikimedia-operations",
    project: null,
    source: "irc",
    identity: null,
    deployId: null,
    task: null,
    ...over,
  };
}

const entries: SalEntry[] = [
  entry({ id: 3, time: "2026-11-26T13:34:36.123Z", message: "restarted php-fpm on mw1234 T1234", project: "production" }),
  entry({
    id: 2,
    time: "2026-11-26T02:05:00.000Z",
    nick: "l10nupdate",
    message: "LocalisationUpdate completed",
    source: "api",
    identity: "l10nupdate@deploy1001",
    deployId: 77,
  }),
  entry({ id: 1, time: "2026-11-25T23:59:59.999Z", message: "good night" }),
];

function page(over: Partial<SalPageInput> = {}): string {
  return renderSalPage({ entries, query: {}, nextCursor: null, projects: ["production", "tools"], rules, baseUrl, ...over });
}

/** Text between <main> and </main>, for assertions that should ignore the shell. */
const mainOf = (html: string): string => html.slice(html.indexOf("<main"), html.indexOf("</main>"));

describe("layout", () => {
  const html = layout({ title: "A <b>title</b>", body: "<p>hi</p>", baseUrl, head: `<meta name="x">` });

  it("is a full HTML5 document with viewport, feed discovery, nav and inline CSS", () => {
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain(`<meta name="viewport" content="width=device-width, initial-scale=1">`);
    expect(html).toMatch(/<link rel="alternate" type="application\/atom\+xml"[^>]* href="\/feed\.atom">/);
    for (const [label, href] of [["SAL", "/"], ["Deploys", "/deploys"], ["Commands", "/help"]]) {
      expect(html).toContain(`<a href="${href}">${label}</a>`);
    }
    expect(html).toContain(">tugboat</a>");
    expect(html).toContain("prefers-color-scheme:dark");
    expect(html).toContain("max-width:72ch");
    expect(html).toContain(`<meta name="x">`);
    expect(html).toContain("<main class=\"wrap\">\n<p>hi</p>\n</main>");
  });

  it("escapes the title", () => {
    expect(html).toContain("<title>A &lt;b&gt;title&lt;/b&gt; · tugboat</title>");
  });

  it("roots links at a base URL's path prefix", () => {
    const prefixed = layout({ title: "t", body: "", baseUrl: "https://example.org/tugboat/" });
    expect(prefixed).toContain(`<a href="/tugboat/help">Commands</a>`);
    expect(prefixed).toContain(`href="/tugboat/feed.atom"`);
  });
});

describe("renderSalPage", () => {
  it("groups entries by UTC day, newest first, with wiki-style lines", () => {
    const html = mainOf(page());
    const days = [...html.matchAll(/<h2 class="day"[^>]*>([^<]*)<\/h2>/g)].map((m) => m[1]);
    expect(days).toEqual(["2026-11-26", "2026-11-25"]);
    expect(html).toContain(
      `<li class="entry" id="e3"><a class="time" href="/log/3" title="2026-11-26T13:34:36.123Z">13:34</a> ` +
        `<a class="nick" href="/?nick=alice">alice</a>: <span class="msg">restarted php-fpm on mw1234 ` +
        `<a href="https://phabricator.wikimedia.org/T1234" class="task" rel="nofollow noopener">T1234</a></span> ` +
        `<a class="tag" href="/?project=production">production</a></li>`,
    );
    expect(html.indexOf('id="e3"')).toBeLessThan(html.indexOf('id="e2"'));
    expect(html.indexOf('id="e2"')).toBeLessThan(html.indexOf('id="e1"'));
  });

  it("shows the source and identity when not irc, and links the deploy", () => {
    const html = page();
    expect(html).toContain(`<span class="meta">via api: l10nupdate@deploy1001</span>`);
    expect(html).toContain(`<a class="deploy" href="/deploys/77">deploy 77</a>`);
    expect(html.match(/via irc/)).toBeNull();
  });

  it("renders a search form with project options and the query echoed", () => {
    const html = page({ query: { q: "php", nick: "alice", project: "tools", before: "2026-11-26" } });
    expect(html).toContain(`name="q" value="php"`);
    expect(html).toContain(`name="nick" value="alice"`);
    expect(html).toContain(`<option value="">All projects</option><option value="production">production</option><option value="tools" selected>tools</option>`);
    expect(html).toContain(`type="date" name="before" value="2026-11-26"`);
    expect(html).toContain(`<button type="submit">Search</button>`);
  });

  it("keeps an unknown filtered project selectable", () => {
    expect(page({ query: { project: "gone" } })).toContain(`<option value="gone" selected>gone</option>`);
  });

  it("links older entries keeping the filters, built with URLSearchParams", () => {
    const html = page({ query: { q: "a b&c", nick: "bob", before: "2026-11-20" }, nextCursor: "3|x y" });
    expect(html).toContain(`href="/?q=a+b%26c&amp;nick=bob&amp;before=2026-11-20&amp;cursor=3%7Cx+y" rel="next">Older entries`);
  });

  it("has no older link on the last page", () => {
    expect(page()).not.toContain("Older entries");
  });

  it("says so when nothing matches", () => {
    expect(page({ entries: [], query: { q: "zzz" } })).toContain("No entries match these filters.");
    expect(page({ entries: [] })).toContain("No entries match yet.");
  });

  it("shows a query error", () => {
    expect(page({ error: `bad date "<x>"` })).toContain(`<p class="error" role="alert">bad date &quot;&lt;x&gt;&quot;</p>`);
  });

  it("escapes everything user-supplied: entries, query echoes, projects, cursor", () => {
    const evil = `"><script>alert(1)</script>`;
    const html = renderSalPage({
      entries: [entry({ id: 9, time: "2026-11-26T10:00:00.000Z", nick: evil, message: evil, project: evil, source: "api", identity: evil })],
      query: { q: evil, nick: evil, project: evil, before: evil },
      nextCursor: evil,
      projects: [evil],
      rules,
      baseUrl,
      error: evil,
    });
    expect(html).not.toContain("<script");
    expect(html).not.toContain(evil);
    expect(html).toContain("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    // Every attribute value is quoted and free of raw quotes and angle brackets.
    for (const m of html.matchAll(/\s[\w-]+="([^"]*)"/g)) expect(m[1]).not.toMatch(/[<>]/);
  });
});

describe("renderEntryPage", () => {
  const full = entry({
    id: 42,
    time: "2026-11-26T13:34:36.123Z",
    message: "synced 1a2b3c4d for T99",
    project: "production",
    source: "deploy",
    identity: "scap@deploy1001",
    deployId: 7,
    task: "T99",
  });

  it("shows every field and links back to the day", () => {
    const html = mainOf(renderEntryPage(full, rules, baseUrl));
    expect(html).toContain(`<time datetime="2026-11-26T13:34:36.123Z">2026-11-26T13:34:36.123Z</time>`);
    expect(html).toContain(`<span class="muted">Thursday, 26 November 2026, 13:34:36 UTC</span>`);
    for (const v of ["Alice", "<code>alice!~alice@wikimedia/alice</code>", "#wikimedia-operations", "deploy", "scap@deploy1001"]) {
      expect(html).toContain(`<dd>${v}</dd>`);
    }
    expect(html).toContain(`<a class="tag" href="/?project=production">production</a>`);
    expect(html).toContain(`<dd><a href="https://phabricator.wikimedia.org/T99" rel="nofollow noopener">T99</a></dd>`);
    expect(html).toContain(`<a href="/deploys/7">deploy 7</a>`);
    expect(html).toContain(`class="sha"`);
    expect(html).toContain(`href="/?before=2026-11-26#e42"`);
  });

  it("leaves out fields that are not set", () => {
    const bare = entry({ id: 1, time: "2026-01-01T00:00:00.000Z", message: "x", account: null, mask: null, channel: null });
    const html = renderEntryPage(bare, rules, baseUrl);
    for (const label of ["Account", "Host mask", "Channel", "Project", "Identity", "Task", "Deploy"]) {
      expect(html).not.toContain(`<dt>${label}</dt>`);
    }
  });

  it("escapes the nick in the title and the body", () => {
    const html = renderEntryPage(entry({ id: 5, time: "2026-01-01T00:00:00.000Z", message: "m", nick: "<i>x" }), rules, baseUrl);
    expect(html).toContain("<title>SAL #5: &lt;i&gt;x · tugboat</title>");
    expect(html).not.toContain("<i>");
  });
});

describe("renderNotFound", () => {
  it("escapes the message and offers a way back", () => {
    const html = renderNotFound("no entry <b>99</b>", baseUrl);
    expect(html).toContain("no entry &lt;b&gt;99&lt;/b&gt;");
    expect(html).toContain(`<a href="/">Back to the Server Admin Log</a>`);
  });
});
