// linkify: escape first, then link URLs, task ids and SHAs; XSS attempts must stay inert text.
import { describe, expect, it } from "vitest";
import { escapeHtml, linkify, type LinkRules } from "../../src/web/linkify.js";

const rules: LinkRules = {
  taskPattern: /\bT\d+\b/,
  taskUrl: "https://phabricator.wikimedia.org/{id}",
  commitUrl: "https://gerrit.example.org/r/q/{sha}",
};
const none: LinkRules = { taskPattern: null, taskUrl: null, commitUrl: null };
const a = (href: string, text = href, cls = ""): string =>
  `<a href="${href}"${cls === "" ? "" : ` class="${cls}"`} rel="nofollow noopener">${text}</a>`;

/** Every href in the output. */
const hrefs = (html: string): string[] => [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1] ?? "");

describe("escapeHtml", () => {
  it("escapes the five HTML-significant characters", () => {
    expect(escapeHtml(`<a href="x">Tom's & Jerry's</a>`)).toBe(
      "&lt;a href=&quot;x&quot;&gt;Tom&#39;s &amp; Jerry&#39;s&lt;/a&gt;",
    );
  });
});

describe("linkify URLs", () => {
  it.each([
    ["plain", "see https://example.org/x", `see ${a("https://example.org/x")}`],
    ["http", "http://example.org", a("http://example.org")],
    ["trailing period", "at https://example.org/x.", `at ${a("https://example.org/x")}.`],
    ["trailing punctuation run", "https://example.org/x?!:;,", `${a("https://example.org/x")}?!:;,`],
    ["in parentheses", "(https://example.org/x)", `(${a("https://example.org/x")})`],
    ["balanced parens kept", "https://en.wikipedia.org/wiki/Foo_(bar)", a("https://en.wikipedia.org/wiki/Foo_(bar)")],
    ["paren then period", "(see https://e.org/Foo_(bar)).", `(see ${a("https://e.org/Foo_(bar)")}).`],
    ["ampersand", "https://e.org/?a=1&b=2", a("https://e.org/?a=1&amp;b=2")],
    ["angle-bracketed", "<https://e.org/x>", `&lt;${a("https://e.org/x")}&gt;`],
    ["quoted", `"https://e.org/x"`, `&quot;${a("https://e.org/x")}&quot;`],
    ["single-quoted", "'https://e.org/x'", `&#39;${a("https://e.org/x")}&#39;`],
    ["apostrophe inside", "https://e.org/O'Reilly ok", `${a("https://e.org/O&#39;Reilly")} ok`],
    ["two urls", "https://a.org and https://b.org", `${a("https://a.org")} and ${a("https://b.org")}`],
    ["scheme only", "http:// nothing", "http:// nothing"],
    ["uppercase scheme", "HTTPS://E.ORG/", a("HTTPS://E.ORG/")],
  ])("%s", (_name, input, expected) => {
    expect(linkify(input, none)).toBe(expected);
  });

  it("keeps &amp; correct in the href: one level of escaping, never &amp;amp;", () => {
    const html = linkify("https://e.org/?a=1&b=2&amp;c", none);
    expect(hrefs(html)).toEqual(["https://e.org/?a=1&amp;b=2&amp;amp;c"]);
    expect(html).not.toContain("&amp;amp;amp;");
  });
});

describe("linkify task ids and SHAs", () => {
  it.each([
    ["task", "fixes T1234", `fixes ${a("https://phabricator.wikimedia.org/T1234", "T1234", "task")}`],
    ["task word-bounded", "XT1234 T12a", "XT1234 T12a"],
    ["sha", "deployed 1a2b3c4d", `deployed ${a("https://gerrit.example.org/r/q/1a2b3c4d", "1a2b3c4d", "sha")}`],
    [
      "40-char sha",
      "0123456789abcdef0123456789abcdef01234567",
      a(
        "https://gerrit.example.org/r/q/0123456789abcdef0123456789abcdef01234567",
        "0123456789abcdef0123456789abcdef01234567",
        "sha",
      ),
    ],
    ["too short", "abc123", "abc123"],
    ["too long", "0123456789abcdef0123456789abcdef012345678", "0123456789abcdef0123456789abcdef012345678"],
    ["all digits", "1234567", "1234567"],
    ["all letters", "deadbeef", "deadbeef"],
    ["not word-bounded", "xabc12345", "xabc12345"],
    ["in a hostname", "restarted mw1234 and deploy1001", "restarted mw1234 and deploy1001"],
  ])("%s", (_name, input, expected) => {
    expect(linkify(input, rules)).toBe(expected);
  });

  it("links nothing extra when the rules are off", () => {
    expect(linkify("T1234 1a2b3c4d", none)).toBe("T1234 1a2b3c4d");
    expect(linkify("T1234", { ...rules, taskUrl: null })).toBe("T1234");
  });

  it("does not double-link a task id or SHA inside a URL", () => {
    const html = linkify("https://phabricator.wikimedia.org/T1234#1a2b3c4d T5", rules);
    expect(hrefs(html)).toEqual([
      "https://phabricator.wikimedia.org/T1234#1a2b3c4d",
      "https://phabricator.wikimedia.org/T5",
    ]);
    expect(html.match(/<a /g)).toHaveLength(2);
  });

  it("never matches a task pattern inside an entity", () => {
    const digits: LinkRules = { ...rules, taskPattern: /\d+/ };
    expect(linkify("it's 7", digits)).toBe(`it&#39;s ${a("https://phabricator.wikimedia.org/7", "7", "task")}`);
  });

  it("encodes template values and is not fooled by $ patterns", () => {
    const html = linkify("T1", { ...rules, taskUrl: "https://t.example/?id={id}&x=$&" });
    expect(hrefs(html)).toEqual(["https://t.example/?id=T1&amp;x=$&amp;"]);
  });
});

describe("linkify XSS attempts stay inert", () => {
  const attacks = [
    "<script>alert(1)</script>",
    `"><img src=x onerror=alert(1)>`,
    `'><svg onload=alert(1)>`,
    "https://e.org/\"onmouseover=\"alert(1)",
    "https://e.org/<script>alert(1)</script>",
    "https://e.org/x'onmouseover='alert(1)'",
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1) data:text/html;base64,PHNjcmlwdD4=",
    "T1<img src=x onerror=alert(1)>",
    "1a2b3c4d\"><script>x</script>",
  ];

  it.each(attacks)("%s", (input) => {
    const html = linkify(input, rules);
    expect(html).not.toMatch(/<(?!a href="https?:\/\/|\/a>)/i); // only our own anchors
    expect(html).not.toMatch(/<[^>]*\son\w+=/i); // no event-handler attribute in any tag
    for (const h of hrefs(html)) {
      expect(h).toMatch(/^https?:\/\//i);
      expect(h).not.toMatch(/[<>"]/);
    }
  });

  it("never links javascript: URLs", () => {
    expect(linkify("javascript:alert(1)", rules)).toBe("javascript:alert(1)");
    expect(linkify("javascript://e.org/%0aalert(1)", rules)).toBe("javascript://e.org/%0aalert(1)");
  });

  it("ends a URL at a double quote or angle bracket", () => {
    expect(linkify(`https://e.org/a"b`, none)).toBe(`${a("https://e.org/a")}&quot;b`);
    expect(linkify("https://e.org/a<b>", none)).toBe(`${a("https://e.org/a")}&lt;b&gt;`);
  });

  it("escapes text around links", () => {
    expect(linkify("<b>T1</b>", rules)).toBe(
      `&lt;b&gt;${a("https://phabricator.wikimedia.org/T1", "T1", "task")}&lt;/b&gt;`,
    );
  });
});
