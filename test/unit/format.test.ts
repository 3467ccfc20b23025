import { describe, expect, it } from "vitest";
import {
  capLines,
  compressHosts,
  messageBudget,
  splitMessage,
  stripFormatting,
  utf8Length,
  type MessageBudgetOptions,
} from "../../src/chat/format.js";

const COMBINING_E = "e\u0301"; // "é" as e + COMBINING ACUTE ACCENT
const FAMILY = "\u{1F469}\u200D\u{1F469}\u200D\u{1F467}"; // one grapheme, 18 bytes

function isValidUtf8(piece: string): boolean {
  return Buffer.from(piece, "utf8").toString("utf8") === piece;
}

/** mulberry32: a small seeded PRNG so the property runs are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
}

describe("stripFormatting", () => {
  it.each([
    { name: "plain text", input: "deploy web01 ok", want: "deploy web01 ok" },
    { name: "bold", input: "\x02FAILED\x02 on web01", want: "FAILED on web01" },
    { name: "colour with foreground", input: "\x0304red", want: "red" },
    { name: "colour with foreground and background", input: "\x0304,12red", want: "red" },
    { name: "one-digit colours", input: "\x034,5x", want: "x" },
    { name: "third digit is text", input: "\x03123", want: "3" },
    { name: "third background digit is text", input: "\x0301,234", want: "4" },
    { name: "comma without background digits is text", input: "\x0304,text", want: ",text" },
    { name: "background without foreground is text", input: "\x03,05x", want: ",05x" },
    { name: "bare colour code", input: "\x03 plain", want: " plain" },
    { name: "hex colour", input: "\x04FF0000red", want: "red" },
    { name: "hex colour with background", input: "\x04ff0000,00FF00x", want: "x" },
    { name: "bare hex colour code", input: "a\x04b", want: "ab" },
    { name: "short hex is text", input: "\x04FFF", want: "FFF" },
    { name: "hex background of two digits is text", input: "\x04FF0000,12", want: ",12" },
    { name: "reset", input: "\x0304red\x0f plain", want: "red plain" },
    { name: "reverse", input: "\x16rev\x16", want: "rev" },
    { name: "italic", input: "\x1dit\x1d", want: "it" },
    { name: "strikethrough", input: "\x1egone\x1e", want: "gone" },
    { name: "underline", input: "\x1fu\x1f", want: "u" },
    { name: "monospace", input: "\x11code\x11", want: "code" },
    { name: "NUL becomes a space", input: "a\x00b", want: "a b" },
    { name: "CTCP delimiters become spaces", input: "\x01ACTION waves\x01", want: " ACTION waves " },
    { name: "tab, newlines and bell become spaces", input: "a\tb\nc\rd\x07", want: "a b c d " },
    { name: "DEL is not C0 and stays", input: "a\x7fb", want: "a\x7fb" },
    { name: "spaces are not collapsed", input: "a\x02 \x02 b", want: "a  b" },
    { name: "multibyte text survives", input: "\x02日本語\x0f 🚀 é", want: "日本語 🚀 é" },
    { name: "stacked codes", input: "\x02\x1d\x0303,01\x1fall\x0f", want: "all" },
  ])("$name", ({ input, want }) => {
    expect(stripFormatting(input)).toBe(want);
  });
});

describe("utf8Length", () => {
  it.each([
    { input: "", want: 0 },
    { input: "a", want: 1 },
    { input: "é", want: 2 },
    { input: COMBINING_E, want: 3 },
    { input: "日本語", want: 9 },
    { input: "🚀", want: 4 },
    { input: FAMILY, want: 18 },
    { input: "a é 日 🚀", want: 1 + 1 + 2 + 1 + 3 + 1 + 4 },
    { input: "\uD83D", want: 3 },
    { input: "\uDE80x", want: 4 },
  ])("utf8Length($input) = $want, like Buffer.byteLength", ({ input, want }) => {
    expect(utf8Length(input)).toBe(want);
    expect(utf8Length(input)).toBe(Buffer.byteLength(input, "utf8"));
  });
});

describe("messageBudget", () => {
  const base: MessageBudgetOptions = {
    nick: "tugboat",
    user: "tug",
    host: "bots.example.org",
    command: "PRIVMSG",
    target: "#ops",
  };

  it.each([
    { name: "known host", opts: base, want: 512 - 9 - 7 - 3 - 16 - 7 - 4 },
    { name: "NOTICE is one byte shorter than PRIVMSG", opts: { ...base, command: "NOTICE" as const }, want: 467 },
    { name: "unknown host assumes 63 bytes", opts: { ...base, host: null }, want: 512 - 9 - 7 - 3 - 63 - 7 - 4 },
    { name: "multibyte target counts bytes", opts: { ...base, target: "#café" }, want: 466 - 2 },
    { name: "never negative", opts: { ...base, target: `#${"x".repeat(600)}` }, want: 0 },
  ])("$name", ({ opts, want }) => {
    expect(messageBudget(opts)).toBe(want);
  });

  it.each([
    { host: "bots.example.org" as string | null },
    { host: null },
    { host: "user/tugboat" },
  ])("the relayed line is exactly 512 bytes with a full budget (host $host)", ({ host }) => {
    const opts = { ...base, host };
    const text = "x".repeat(messageBudget(opts));
    const shownHost = host ?? "h".repeat(63);
    const line = `:${opts.nick}!${opts.user}@${shownHost} ${opts.command} ${opts.target} :${text}\r\n`;
    expect(Buffer.byteLength(line)).toBe(512);
  });
});

describe("splitMessage", () => {
  it.each([
    { name: "fits", text: "hello world", budget: 20, want: ["hello world"] },
    { name: "exactly the budget", text: "hello", budget: 5, want: ["hello"] },
    { name: "empty text", text: "", budget: 10, want: [] },
    { name: "only spaces", text: "    ", budget: 10, want: [] },
    { name: "trims leading and trailing spaces", text: "  hi  ", budget: 10, want: ["hi"] },
    { name: "keeps inner spaces of a piece", text: "a   b", budget: 10, want: ["a   b"] },
    { name: "splits at the last space that fits", text: "hello world foo", budget: 11, want: ["hello world", "foo"] },
    { name: "a space right after the budget", text: "aaaa bbbb", budget: 4, want: ["aaaa", "bbbb"] },
    { name: "drops a run of spaces at the split", text: "aaa    bbb", budget: 5, want: ["aaa", "bbb"] },
    { name: "hard-splits a long word", text: "abcdefghij", budget: 4, want: ["abcd", "efgh", "ij"] },
    { name: "short word then a long one", text: "a bcdefgh", budget: 4, want: ["a", "bcde", "fgh"] },
    { name: "\\n starts a new piece", text: "one\ntwo", budget: 50, want: ["one", "two"] },
    { name: "\\r\\n and \\r start new pieces", text: "one\r\ntwo\rthree", budget: 50, want: ["one", "two", "three"] },
    { name: "empty lines are dropped", text: "a\n\n\r\n  \nb\n", budget: 50, want: ["a", "b"] },
    { name: "newlines only", text: "\n\r\n\r", budget: 50, want: [] },
    { name: "two-byte characters", text: "ééé", budget: 4, want: ["éé", "é"] },
    { name: "odd budget never halves a two-byte character", text: "ééé", budget: 5, want: ["éé", "é"] },
    { name: "three-byte characters", text: "日本語", budget: 5, want: ["日", "本", "語"] },
    { name: "three-byte characters, even budget", text: "日本語", budget: 6, want: ["日本", "語"] },
    { name: "never splits a surrogate pair", text: "🚀🚀🚀", budget: 7, want: ["🚀", "🚀", "🚀"] },
    {
      name: "keeps a combining mark with its base",
      text: `${COMBINING_E}${COMBINING_E}`,
      budget: 4,
      want: [COMBINING_E, COMBINING_E],
    },
    { name: "keeps a ZWJ sequence whole when it fits", text: `${FAMILY}${FAMILY}`, budget: 20, want: [FAMILY, FAMILY] },
    {
      name: "cuts a grapheme longer than the budget at code points",
      text: FAMILY,
      budget: 8,
      want: ["\u{1F469}\u200D", "\u{1F469}\u200D", "\u{1F467}"],
    },
    { name: "mixed words", text: "deploy 日本語 🚀 done", budget: 14, want: ["deploy", "日本語 🚀", "done"] },
  ])("$name", ({ text, budget, want }) => {
    expect(splitMessage(text, budget)).toEqual(want);
  });

  it.each([{ budget: 3 }, { budget: 0 }, { budget: -5 }, { budget: 10.5 }, { budget: Number.NaN }])(
    "rejects a budget of $budget",
    ({ budget }) => {
      expect(() => splitMessage("text", budget)).toThrow(RangeError);
    },
  );

  it("splits a 600-byte line of multibyte words on word boundaries", () => {
    const vocabulary = ["é", "日本語", "🚀", COMBINING_E, "deploy", "naïve", "web01", "ok"];
    const words: string[] = [];
    for (let i = 0; utf8Length(words.join(" ")) < 600; i++) words.push(vocabulary[i % vocabulary.length] ?? "");
    const text = words.join(" ");
    expect(utf8Length(text)).toBeGreaterThanOrEqual(600);

    const budget = messageBudget({ nick: "tugboat", user: "tug", host: null, command: "PRIVMSG", target: "#ops" });
    for (const size of [budget, 100, 37, 12]) {
      const pieces = splitMessage(text, size);
      expect(pieces.length).toBeGreaterThan(1);
      for (const piece of pieces) {
        expect(utf8Length(piece)).toBeLessThanOrEqual(size);
        expect(isValidUtf8(piece)).toBe(true);
      }
      expect(pieces.join(" ")).toBe(text);
      expect(pieces.join(" ").split(" ")).toEqual(words);
      // Greedy: the next piece's first word would not have fitted on this one.
      pieces.slice(1).forEach((next, i) => {
        const firstWord = next.split(" ")[0] ?? "";
        expect(utf8Length(`${pieces[i] ?? ""} ${firstWord}`)).toBeGreaterThan(size);
      });
    }
  });

  it("holds its invariants over 1,000 random strings", () => {
    const random = prng(0x7ac0b0a7);
    const atoms = ["a", "b", "z", "0", "-", " ", " ", "   ", "é", "日", "本", "🚀", COMBINING_E, FAMILY];
    atoms.push("\n", "\r\n");
    for (let run = 0; run < 1000; run++) {
      const length = Math.floor(random() * 120);
      let text = "";
      for (let i = 0; i < length; i++) text += pick(random, atoms);
      const budget = 4 + Math.floor(random() * 60);
      const pieces = splitMessage(text, budget);
      const context = JSON.stringify({ run, text, budget, pieces });

      for (const piece of pieces) {
        expect(piece.length, context).toBeGreaterThan(0);
        expect(utf8Length(piece), context).toBeLessThanOrEqual(budget);
        expect(isValidUtf8(piece), context).toBe(true);
        expect(piece, context).toBe(piece.trim());
        expect(piece, context).not.toMatch(/[\r\n]/);
        // A combining mark is never cut from its base (e + U+0301 is 3 bytes, always fits).
        expect(piece, context).not.toMatch(/^\p{M}/u);
      }
      // Nothing but spaces and newlines is lost, and order is kept.
      expect(pieces.join("").replace(/[ \r\n]/g, ""), context).toBe(text.replace(/[ \r\n]/g, ""));
    }
  });

  it("keeps whole words over 1,000 random single-spaced sentences", () => {
    const random = prng(42);
    const syllables = ["de", "ploy", "é", "日本", "語", "🚀", COMBINING_E, "web", "01"];
    for (let run = 0; run < 1000; run++) {
      const budget = 12 + Math.floor(random() * 50);
      const words: string[] = [];
      const count = 1 + Math.floor(random() * 40);
      while (words.length < count) {
        let word = "";
        const parts = 1 + Math.floor(random() * 4);
        for (let i = 0; i < parts; i++) word += pick(random, syllables);
        if (utf8Length(word) <= budget) words.push(word);
      }
      const text = words.join(" ");
      const pieces = splitMessage(text, budget);
      const context = JSON.stringify({ run, text, budget, pieces });

      expect(pieces.join(" "), context).toBe(text);
      for (const piece of pieces) expect(utf8Length(piece), context).toBeLessThanOrEqual(budget);
      pieces.slice(1).forEach((next, i) => {
        const firstWord = next.split(" ")[0] ?? "";
        expect(utf8Length(`${pieces[i] ?? ""} ${firstWord}`), context).toBeGreaterThan(budget);
      });
    }
  });
});

describe("capLines", () => {
  const lines = ["l1", "l2", "l3", "l4", "l5"];
  const more = (hidden: number): string => `(${hidden} more: https://tugboat.example/r/1)`;

  it.each([
    { name: "fewer lines than the cap", max: 10, want: lines },
    { name: "exactly the cap", max: 5, want: lines },
    { name: "one over the cap", max: 4, want: ["l1", "l2", "l3", "(2 more: https://tugboat.example/r/1)"] },
    { name: "a cap of two", max: 2, want: ["l1", "(4 more: https://tugboat.example/r/1)"] },
    { name: "a cap of one", max: 1, want: ["(5 more: https://tugboat.example/r/1)"] },
  ])("$name", ({ max, want }) => {
    expect(capLines(lines, max, more)).toEqual(want);
  });

  it("passes the count of hidden lines and leaves the input alone", () => {
    const input = Array.from({ length: 15 }, (_, i) => `line ${i}`);
    const seen: number[] = [];
    const out = capLines(input, 4, (hidden) => {
      seen.push(hidden);
      return `(${hidden} more)`;
    });
    expect(seen).toEqual([12]);
    expect(out).toEqual(["line 0", "line 1", "line 2", "(12 more)"]);
    expect(input).toHaveLength(15);
  });

  it("does not call more() when nothing is hidden", () => {
    const seen: number[] = [];
    capLines(lines, 5, (hidden) => {
      seen.push(hidden);
      return "";
    });
    expect(seen).toEqual([]);
  });

  it.each([{ max: 0 }, { max: -1 }, { max: 2.5 }])("rejects a cap of $max", ({ max }) => {
    expect(() => capLines(lines, max, more)).toThrow(RangeError);
  });
});

describe("compressHosts", () => {
  it.each([
    { name: "nothing", names: [], want: "" },
    { name: "one host prints plainly", names: ["web03"], want: "web03" },
    {
      name: "ranges keep zero padding",
      names: ["web01", "web02", "web03", "web04", "web05", "web06", "web07", "web12"],
      want: "web[01-07,12]",
    },
    { name: "sorted numerically and deduplicated", names: ["web12", "web02", "web01", "web02"], want: "web[01-02,12]" },
    { name: "the same host twice prints plainly", names: ["web03", "web03"], want: "web03" },
    { name: "gaps are listed", names: ["web1", "web3", "web5"], want: "web[1,3,5]" },
    {
      name: "suffix after the digits",
      names: ["mw1001.eqiad", "mw1002.eqiad", "mw1003.eqiad", "mw1005.eqiad"],
      want: "mw[1001-1003,1005].eqiad",
    },
    {
      name: "different suffixes are different groups",
      names: ["mw1001.eqiad", "mw2001.codfw"],
      want: "mw2001.codfw, mw1001.eqiad",
    },
    { name: "different prefixes are different groups", names: ["web01", "db02", "db01"], want: "db[01-02], web01" },
    { name: "names without digits as-is", names: ["deploy-host", "web01", "web02"], want: "deploy-host, web[01-02]" },
    { name: "names without digits are deduplicated", names: ["bastion", "bastion"], want: "bastion" },
    { name: "unpadded numbers range across widths", names: ["web9", "web10", "web11"], want: "web[9-11]" },
    { name: "padded numbers range across a carry", names: ["web09", "web10"], want: "web[09-10]" },
    { name: "different padding does not merge", names: ["web9", "web010"], want: "web[9,010]" },
    { name: "the same number with and without padding", names: ["web01", "web1"], want: "web[1,01]" },
    {
      name: "only the last digit run varies",
      names: ["db1.site2.example", "db1.site3.example"],
      want: "db1.site[2-3].example",
    },
    { name: "all digits", names: ["3", "1", "2"], want: "[1-3]" },
    {
      name: "numbers past 2^53",
      names: ["n9007199254740993", "n9007199254740992"],
      want: "n[9007199254740992-9007199254740993]",
    },
    { name: "empty names are ignored", names: ["", "web01", ""], want: "web01" },
  ])("$name", ({ names, want }) => {
    expect(compressHosts(names)).toBe(want);
  });

  it("does not depend on input order", () => {
    const random = prng(7);
    const hosts = Array.from({ length: 40 }, (_, i) => `mw${String(1001 + i * (i % 3)).padStart(4, "0")}.eqiad`);
    const shuffled = hosts.slice().sort(() => random() - 0.5);
    expect(compressHosts(shuffled)).toBe(compressHosts(hosts));
  });
});
