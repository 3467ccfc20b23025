// The SAL as an Atom 1.0 feed (RFC 4287): one <entry> per SAL entry, newest first as given.
// Pure: `updated` is passed in. Text is XML-escaped and stripped of the characters XML 1.0
// forbids (C0 controls other than tab/LF/CR, lone surrogates, U+FFFE/U+FFFF): one stray ^C
// pasted from IRC would otherwise make every feed reader reject the whole document.
import type { SalEntry } from "../sal/entry.js";
import { absoluteUrl } from "./layout.js";

export interface AtomFeedInput {
  entries: SalEntry[];
  /** Public URL of the site root, e.g. "https://sal.example.org". */
  baseUrl: string;
  title: string;
  /** RFC 3339 time of the newest change, e.g. the newest entry's time. */
  updated: string;
}

const TITLE_CHARS = 80;

// Everything outside XML 1.0's Char production; the u flag makes lone surrogates match singly.
const ILLEGAL_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

const XML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  // A literal CR would be normalised to LF by every XML parser; a reference survives.
  "\r": "&#13;",
};

/** Removes characters XML 1.0 cannot carry, then escapes markup characters and CR. */
export function xmlText(s: string): string {
  return s.replace(ILLEGAL_XML, "").replace(/[&<>"'\r]/g, (c) => XML_ESCAPES[c] ?? c);
}

/** "nick: message", the message cut to 80 characters (code points, so emoji stay whole). */
export function entryTitle(e: SalEntry): string {
  const chars = Array.from(e.message.replace(/\s+/g, " ").trim());
  const head = chars.length > TITLE_CHARS ? `${chars.slice(0, TITLE_CHARS).join("").trimEnd()}…` : chars.join("");
  return `${e.nick}: ${head}`;
}

function renderEntry(e: SalEntry, baseUrl: string): string {
  const permalink = xmlText(absoluteUrl(baseUrl, `/log/${e.id}`));
  const lines = [
    `<entry>`,
    `<id>${permalink}</id>`,
    `<title type="text">${xmlText(entryTitle(e))}</title>`,
    `<updated>${xmlText(e.time)}</updated>`,
    `<published>${xmlText(e.time)}</published>`,
    `<author><name>${xmlText(e.nick)}</name></author>`,
    `<link rel="alternate" type="text/html" href="${permalink}"/>`,
  ];
  if (e.project !== null) lines.push(`<category term="${xmlText(e.project)}"/>`);
  lines.push(`<content type="text">${xmlText(e.message)}</content>`, `</entry>`);
  return lines.join("\n");
}

export function renderAtomFeed(input: AtomFeedInput): string {
  const { baseUrl } = input;
  const self = xmlText(absoluteUrl(baseUrl, "/feed.atom"));
  const home = xmlText(absoluteUrl(baseUrl, "/"));
  return [
    `<?xml version="1.0" encoding="utf-8"?>`,
    `<feed xmlns="http://www.w3.org/2005/Atom">`,
    `<id>${self}</id>`,
    `<title type="text">${xmlText(input.title)}</title>`,
    `<updated>${xmlText(input.updated)}</updated>`,
    `<link rel="self" type="application/atom+xml" href="${self}"/>`,
    `<link rel="alternate" type="text/html" href="${home}"/>`,
    `<generator>tugboat</generator>`,
    ...input.entries.map((e) => renderEntry(e, baseUrl)),
    `</feed>`,
    ``,
  ].join("\n");
}
