import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { shellCommand, shellQuote } from "../../src/fleet/quote.js";

// Each value goes through a real /bin/sh and must come out as exactly one unchanged argument.
const hostile = [
  "plain", "", " ", "two words", "it's", "'", "''", "\"", "$(id)", "`id`", "${HOME}", "a;b", "a&&b", "a|b", "a>b", "<", "\\", "\\'", "*", "?", "[a]", "~", "!", "#x",
  "-n", "--upload-pack=evil", "line\nbreak", "tab\there", "é日本🚀", "\x01\x7f", "'; rm -rf / #",
];

describe("shellQuote through a real /bin/sh", () => {
  it.each(hostile)("%j survives as one argument", (value) => {
    const out = execFileSync("/bin/sh", ["-c", `printf '%s\\0' ${shellQuote(value)}`]);
    expect(out.toString("utf8")).toBe(`${value}\0`);
  });

  it("a whole argv keeps its shape", () => {
    const out = execFileSync("/bin/sh", ["-c", `printf '%s\\0' ${shellCommand(hostile)}`]);
    expect(out.toString("utf8").split("\0").slice(0, -1)).toEqual(hostile);
  });

  it("refuses NUL", () => {
    expect(() => shellQuote("a\0b")).toThrow(/NUL/);
  });
});
