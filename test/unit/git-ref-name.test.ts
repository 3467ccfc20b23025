// The ref rules applied to chat input before git sees it: git check-ref-format plus no options.
import { describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import { assertValidRef, isFullSha, looksLikeSha, quoted, refProblem } from "../../src/git/ref-name.js";

describe("refProblem", () => {
  it.each(["main", "feature/login", "release-1.2", "v2.0", "wmf/1.42.0-wmf.5", "deadbeef", "a;b", "ünïcode"])("accepts %j", (ref) => {
    expect(refProblem(ref)).toBeNull();
  });

  it.each([
    ["", "is empty"],
    ["x".repeat(201), "is longer than 200 characters"],
    ["--upload-pack=evil", 'must not start with "-"'],
    ["-", 'must not start with "-"'],
    ["main; rm -rf /", "must not contain spaces or control characters"],
    ["a\tb", "must not contain spaces or control characters"],
    ["a\u0000b", "must not contain spaces or control characters"],
    ["a\u007fb", "must not contain spaces or control characters"],
    ["main..evil", 'must not contain ".."'],
    ["HEAD@{1}", 'must not contain "@{"'],
    ["@", 'must not be "@"'],
    ["main~1", 'must not contain "~"'],
    ["main^", 'must not contain "^"'],
    ["a:b", 'must not contain ":"'],
    ["a?", 'must not contain "?"'],
    ["a*", 'must not contain "*"'],
    ["a[b", 'must not contain "["'],
    ["a\\b", 'must not contain "\\\\"'],
    ["/main", 'must not start or end with "/" or contain "//"'],
    ["main/", 'must not start or end with "/" or contain "//"'],
    ["a//b", 'must not start or end with "/" or contain "//"'],
    ["main.", 'must not end with "."'],
    [".hidden", 'must not have a part starting with "."'],
    ["a/.b", 'must not have a part starting with "."'],
    ["a.lock/b", 'must not have a part ending in ".lock"'],
  ])("refuses %j: %s", (ref, problem) => {
    expect(refProblem(ref)).toBe(problem);
  });
});

describe("assertValidRef", () => {
  it("throws a UserError quoting the ref with control characters escaped", () => {
    expect(() => assertValidRef("main\nPRIVMSG #ops :hi")).toThrow(new UserError('invalid ref "main\\nPRIVMSG #ops :hi": must not contain spaces or control characters'));
    expect(() => assertValidRef("main")).not.toThrow();
  });
});

describe("SHAs", () => {
  it("tells full and abbreviated SHAs apart from names", () => {
    expect(isFullSha("a".repeat(40))).toBe(true);
    expect(isFullSha("A".repeat(40))).toBe(true);
    expect(isFullSha("a".repeat(64))).toBe(true);
    expect(isFullSha("a".repeat(41))).toBe(false);
    expect(isFullSha("main")).toBe(false);
    expect(looksLikeSha("abcd")).toBe(true);
    expect(looksLikeSha("abc")).toBe(false);
    expect(looksLikeSha("abcg")).toBe(false);
  });

  it("quotes and cuts long text for messages", () => {
    expect(quoted("x".repeat(70))).toBe(`"${"x".repeat(60)}…"`);
  });
});
