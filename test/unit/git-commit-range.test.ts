// Pure parts of commit ranges: git log -z records, --shortstat lines, commit links, capped diffs,
// and the redaction of URLs and reasons taken from git's stderr.
import { describe, expect, it } from "vitest";
import { capDiff, commitLink, parseLog, parseShortstat } from "../../src/git/commit-range.js";
import { gitReason, redactUrls } from "../../src/git/git-runner.js";

describe("parseShortstat", () => {
  it.each([
    [" 3 files changed, 10 insertions(+), 2 deletions(-)\n", { filesChanged: 3, added: 10, deleted: 2 }],
    [" 1 file changed, 1 insertion(+)\n", { filesChanged: 1, added: 1, deleted: 0 }],
    [" 1 file changed, 4 deletions(-)\n", { filesChanged: 1, added: 0, deleted: 4 }],
    [" 2 files changed, 0 insertions(+), 0 deletions(-)\n", { filesChanged: 2, added: 0, deleted: 0 }],
    ["", { filesChanged: 0, added: 0, deleted: 0 }],
  ])("parses %j", (line, stat) => {
    expect(parseShortstat(line)).toEqual(stat);
  });
});

describe("parseLog", () => {
  it("reads NUL-terminated records of US-separated fields", () => {
    const out = `${"a".repeat(40)}\x1faaaaaaa\x1fAda\x1fFix: a | b\0\n${"b".repeat(40)}\x1fbbbbbbb\x1fBob\x1f\0`;
    expect(parseLog(out, "https://x/{sha}?s={sha}")).toEqual([
      { sha: "a".repeat(40), short: "aaaaaaa", author: "Ada", subject: "Fix: a | b", url: `https://x/${"a".repeat(40)}?s=${"a".repeat(40)}` },
      { sha: "b".repeat(40), short: "bbbbbbb", author: "Bob", subject: "", url: `https://x/${"b".repeat(40)}?s=${"b".repeat(40)}` },
    ]);
    expect(parseLog("", null)).toEqual([]);
    expect(commitLink(null, "abc")).toBeNull();
  });
});

describe("capDiff", () => {
  const diff = Buffer.from("line one\nline two ünï\nline three\n");

  it("returns a complete diff that fits as it is", () => {
    expect(capDiff(diff, true, 1_000, "[cut]")).toBe(diff.toString());
  });

  it("cuts at a line boundary and stays within maxBytes, marker included", () => {
    for (let max = 0; max < 60; max++) {
      const out = capDiff(diff, false, max, "[cut]");
      expect(out.endsWith("[cut]\n")).toBe(true);
      if (max >= 6) expect(Buffer.byteLength(out)).toBeLessThanOrEqual(max);
      expect(diff.toString().startsWith(out.slice(0, -"[cut]\n".length))).toBe(true);
    }
    expect(capDiff(diff, false, 30, "[cut]")).toBe("line one\nline two ünï\n[cut]\n");
  });
});

describe("messages from git's stderr", () => {
  it("hides URL credentials", () => {
    expect(redactUrls("fatal: repository 'https://bot:s3cr3t@git.example.org/app.git/' not found")).toBe(
      "fatal: repository 'https://***@git.example.org/app.git/' not found",
    );
    expect(redactUrls("ssh://git@host/x and /local/path")).toBe("ssh://***@host/x and /local/path");
  });

  it("takes the first fatal or error line", () => {
    expect(gitReason("hint: something\nfatal: couldn't find remote ref nope\n")).toBe("couldn't find remote ref nope");
    expect(gitReason("warning: x\n")).toBe("warning: x");
    expect(gitReason("")).toBe("no output");
  });
});
