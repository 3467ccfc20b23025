// The page !diff links to: the range, its commits and the diff, everything from git escaped.
import { describe, expect, it } from "vitest";
import { renderDiffPage } from "../../src/web/deploy-pages.js";

const FROM = "0123456789abcdef0123456789abcdef01234567";
const TO = "abcdef0123456789abcdef0123456789abcdef01";

describe("renderDiffPage", () => {
  it("shows the range, the commits (linked when a commit URL is configured) and the marked diff, escaped", () => {
    const html = renderDiffPage({
      app: "api", from: FROM, to: TO, baseUrl: "https://sal.example/tools",
      range: { from: FROM, to: TO, count: 2, added: 1, deleted: 1, filesChanged: 1, commits: [
        { sha: TO, short: "abcdef0", author: "Eve <eve@x>", subject: "<script>alert(1)</script> fix", url: `https://git.example/c/${TO}` },
        { sha: FROM, short: "0123456", author: "Bob", subject: "plain", url: null },
      ] },
      diff: "--- a/x\n+++ b/x\n-<b>old</b>\n+<i>new</i>\n",
    });
    expect(html).toContain("<h1>api: <code>0123456..abcdef0</code></h1>");
    expect(html).toContain("<strong>2</strong> commits");
    expect(html).toContain(`<code><a href="https://git.example/c/${TO}">abcdef0</a></code> Eve &lt;eve@x&gt;: &lt;script&gt;alert(1)&lt;/script&gt; fix`);
    expect(html).toContain('<span class="del">-&lt;b&gt;old&lt;/b&gt;</span>');
    expect(html).toContain('<span class="add">+&lt;i&gt;new&lt;/i&gt;</span>');
    expect(html).not.toContain("<script>alert");
    expect(html).toContain('href="/tools/deploys?app=api"');
    expect(html).toContain("Security patches are deployed on top of this range and never shown here.");
  });

  it("a first deploy says so", () => {
    const range = { from: null, to: TO, count: 1, added: 1, deleted: 0, filesChanged: 1, commits: [{ sha: TO, short: "abcdef0", author: "Bob", subject: "first", url: null }] };
    const html = renderDiffPage({ app: "api", from: null, to: TO, range, diff: "+++ b/x\n+hello\n", baseUrl: "http://127.0.0.1:8080" });
    expect(html).toContain("<code>nothing..abcdef0</code>");
    expect(html).toContain("over nothing (a first deploy)");
  });
});
