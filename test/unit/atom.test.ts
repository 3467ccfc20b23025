// Atom feed: well-formed XML (checked by a small tokenizer, no XML dependency), the elements
// RFC 4287 requires, escaping, and removal of characters XML 1.0 forbids.
import { describe, expect, it } from "vitest";
import type { SalEntry } from "../../src/sal/entry.js";
import { entryTitle, renderAtomFeed, xmlText } from "../../src/web/atom.js";

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = "[A-Za-z_][\\w.:-]*";
const TAG = new RegExp(`<(/?)(${NAME})((?:\\s+${NAME}="[^"<]*")*)\\s*(/?)>`, "y");
const ATTR = new RegExp(`(${NAME})="([^"<]*)"`, "g");
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/y;

const NAMED: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
const decode = (s: string): string =>
  s.replace(/&(#\d+|\w+);/g, (_m, e: string) =>
    e.startsWith("#") ? String.fromCodePoint(Number(e.slice(1))) : (NAMED[e] ?? ""),
  );

/** Parses the subset of XML the feed uses; throws on anything not well-formed. */
function parseXml(xml: string): XmlElement {
  const decl = /^<\?xml version="1\.0" encoding="utf-8"\?>\n/.exec(xml);
  if (decl === null) throw new Error("missing XML declaration");
  const root: XmlElement = { name: "#document", attrs: {}, children: [], text: "" };
  const stack: XmlElement[] = [root];
  let i = decl[0].length;
  while (i < xml.length) {
    const top = stack.at(-1);
    if (top === undefined) {
      if (xml.slice(i).trim() !== "") throw new Error("content after the root element");
      break;
    }
    const c = xml[i];
    if (c === "<") {
      TAG.lastIndex = i;
      const m = TAG.exec(xml);
      if (m === null) throw new Error(`bad tag at ${i}: ${xml.slice(i, i + 30)}`);
      const [whole, close = "", name = "", attrText = "", selfClose = ""] = m;
      if (close !== "") {
        if (top.name !== name) throw new Error(`</${name}> closes <${top.name}>`);
        stack.pop();
        if (stack.length === 1) stack.pop();
      } else {
        const attrs: Record<string, string> = {};
        for (const a of attrText.matchAll(ATTR)) {
          const [, k = "", v = ""] = a;
          if (k in attrs) throw new Error(`duplicate attribute ${k}`);
          if (/&(?!(?:amp|lt|gt|quot|apos|#\d+);)/.test(v)) throw new Error(`bare & in attribute ${k}`);
          attrs[k] = decode(v);
        }
        const el: XmlElement = { name, attrs, children: [], text: "" };
        if (top === root && root.children.length > 0) throw new Error("two root elements");
        top.children.push(el);
        if (selfClose === "") stack.push(el);
        else if (top === root) stack.pop();
      }
      i += whole.length;
    } else if (c === "&") {
      ENTITY.lastIndex = i;
      const m = ENTITY.exec(xml);
      if (m === null) throw new Error(`bare & at ${i}`);
      top.text += decode(m[0]);
      i += m[0].length;
    } else {
      if (top === root && c !== undefined && c.trim() !== "") throw new Error("text outside the root element");
      if (c === ">" && xml.slice(i - 2, i) === "]]") throw new Error("]]> in text");
      top.text += c;
      i += 1;
    }
  }
  if (stack.length !== 0) throw new Error(`unclosed <${stack.at(-1)?.name ?? "?"}>`);
  const feed = root.children[0];
  if (feed === undefined) throw new Error("no root element");
  return feed;
}

const kids = (el: XmlElement, name: string): XmlElement[] => el.children.filter((c) => c.name === name);
const one = (el: XmlElement, name: string): XmlElement => {
  const found = kids(el, name);
  if (found.length !== 1 || found[0] === undefined) throw new Error(`expected one <${name}> in <${el.name}>, got ${found.length}`);
  return found[0];
};

function entry(over: Partial<SalEntry> & Pick<SalEntry, "id" | "message">): SalEntry {
  return {
    time: "2026-11-26T13:34:36.123Z",
    nick: "alice",
    account: "Alice",
    mask: null,
    channel: "#ops",
    project: null,
    source: "irc",
    identity: null,
    deployId: null,
    task: null,
    ...over,
  };
}

const baseUrl = "https://sal.example.org/";
const entries = [
  entry({ id: 2, message: `restarted <php-fpm> & "apache" on mw1234's pool`, project: "production" }),
  entry({ id: 1, time: "2026-11-25T08:00:00.000Z", nick: "bob", message: "x".repeat(100) }),
];
const xml = renderAtomFeed({ entries, baseUrl, title: "SAL <tugboat>", updated: "2026-11-26T13:34:36.123Z" });

describe("renderAtomFeed", () => {
  const feed = parseXml(xml);

  it("is a well-formed Atom 1.0 feed with the required feed elements", () => {
    expect(feed.name).toBe("feed");
    expect(feed.attrs.xmlns).toBe("http://www.w3.org/2005/Atom");
    expect(one(feed, "title").text).toBe("SAL <tugboat>");
    expect(one(feed, "id").text).toBe("https://sal.example.org/feed.atom");
    expect(one(feed, "updated").text).toBe("2026-11-26T13:34:36.123Z");
    const self = kids(feed, "link").find((l) => l.attrs.rel === "self");
    expect(self?.attrs.href).toBe("https://sal.example.org/feed.atom");
  });

  it("renders one entry per SAL entry, in order, with id, title, author, times, link and text content", () => {
    const items = kids(feed, "entry");
    expect(items).toHaveLength(2);
    const first = items[0];
    if (first === undefined) throw new Error("no entry");
    expect(one(first, "id").text).toBe("https://sal.example.org/log/2");
    expect(one(first, "title").text).toBe(`alice: restarted <php-fpm> & "apache" on mw1234's pool`);
    expect(one(one(first, "author"), "name").text).toBe("alice");
    expect(one(first, "updated").text).toBe("2026-11-26T13:34:36.123Z");
    expect(one(first, "link").attrs).toEqual({ rel: "alternate", type: "text/html", href: "https://sal.example.org/log/2" });
    expect(one(first, "content").attrs.type).toBe("text");
    expect(one(first, "content").text).toBe(`restarted <php-fpm> & "apache" on mw1234's pool`);
    expect(one(first, "category").attrs.term).toBe("production");
    expect(kids(items[1] ?? first, "category")).toHaveLength(0);
  });

  it("escapes markup rather than embedding it", () => {
    expect(xml).toContain("restarted &lt;php-fpm&gt; &amp; &quot;apache&quot;");
    expect(xml).not.toContain("<php-fpm>");
  });

  it("is well-formed with no entries", () => {
    const empty = parseXml(renderAtomFeed({ entries: [], baseUrl, title: "t", updated: "2026-01-01T00:00:00Z" }));
    expect(kids(empty, "entry")).toHaveLength(0);
  });

  it("removes characters illegal in XML 1.0 and keeps the legal ones", () => {
    const dirty = "a\u0000b\u0003c\u0008d\u000Be\u000Cf\u001Fg\tline\nnext\r\u{1F6A2}\uFFFE\uFFFF\uD800z\u0002bold\u000F";
    const out = renderAtomFeed({
      entries: [entry({ id: 3, nick: "ev\u0001il", message: dirty })],
      baseUrl,
      title: "t\u0007",
      updated: "2026-11-26T13:34:36.123Z",
    });
    const parsed = parseXml(out);
    expect(out).not.toMatch(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/);
    expect(out).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    const content = one(one(parsed, "entry"), "content").text;
    expect(content).toBe("abcdefg\tline\nnext\r\u{1F6A2}zbold");
    expect(one(one(one(parsed, "entry"), "author"), "name").text).toBe("evil");
    expect(one(parsed, "title").text).toBe("t");
  });
});

describe("the test's XML checker", () => {
  it.each([
    ["unclosed", `<feed><id>x</feed>`],
    ["mismatched", `<feed><id>x</title></feed>`],
    ["bare ampersand", `<feed>a & b</feed>`],
    ["raw < in attribute", `<feed a="<"/>`],
    ["unquoted attribute", `<feed a=b/>`],
    ["two roots", `<feed/><feed/>`],
    ["text outside root", `x<feed/>`],
  ])("rejects %s", (_name, body) => {
    expect(() => parseXml(`<?xml version="1.0" encoding="utf-8"?>\n${body}`)).toThrow();
  });
});

describe("entryTitle", () => {
  it("is nick: message, cut to 80 characters with an ellipsis", () => {
    const long = entry({ id: 1, message: "y".repeat(81) });
    expect(entryTitle(long)).toBe(`alice: ${"y".repeat(80)}…`);
    expect(entryTitle(entry({ id: 1, message: "z".repeat(80) }))).toBe(`alice: ${"z".repeat(80)}`);
  });

  it("never cuts an astral character in half and folds newlines", () => {
    const title = entryTitle(entry({ id: 1, message: `${"a".repeat(79)}\u{1F6A2}\u{1F6A2}` }));
    expect(title).toBe(`alice: ${"a".repeat(79)}\u{1F6A2}…`);
    expect(entryTitle(entry({ id: 1, message: "one\ntwo" }))).toBe("alice: one two");
  });
});

describe("xmlText", () => {
  it("escapes all five XML special characters", () => {
    expect(xmlText(`<a b="c" d='e'>&</a>`)).toBe("&lt;a b=&quot;c&quot; d=&apos;e&apos;&gt;&amp;&lt;/a&gt;");
  });

  it("writes CR as a character reference so parsers do not turn it into LF", () => {
    expect(xmlText("a\r\nb")).toBe("a&#13;\nb");
  });
});
