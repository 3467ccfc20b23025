// The SAL's words for deploys (the bot's and a terminal's): ranges, counts, and what a failed count says.
import { describe, expect, it } from "vitest";
import { finishedEntry, startedEntry } from "../../src/deploys/sal-entries.js";
import type { OperationResult } from "../../src/fleet/engine.js";

const FROM = "0123456789abcdef0123456789abcdef01234567";
const TO = "abcdef0123456789abcdef0123456789abcdef01";
const result = (over: Partial<OperationResult> = {}) =>
  ({ state: "succeeded", ok: ["web1", "web2"], problems: [], rolledBack: [], ms: 1234, summary: "", ...over }) as OperationResult;

describe("SAL entries of a deploy", () => {
  it("carry the range, the commit count and the diffstat", () => {
    const range = { count: 3, added: 10, deleted: 2 };
    expect(startedEntry("api", FROM, TO, range, "ship it")).toBe("Started deploy api 0123456..abcdef0 (3 commits): ship it");
    expect(finishedEntry({ app: "api", from: FROM, to: TO, range, result: result(), reason: "ship it", abortedBy: "alice" })).toBe("Finished deploy api 0123456..abcdef0 (3 commits, +10/-2) to 2/2 hosts in 1.2s: ship it");
    expect(startedEntry("api", null, TO, null, "first")).toBe("Started deploy api nothing..abcdef0 (first deploy): first");
  });

  it("say the commits were not counted rather than a wrong count", () => {
    expect(startedEntry("api", FROM, TO, null, "ship it")).toBe("Started deploy api 0123456..abcdef0 (commits not counted): ship it");
    expect(finishedEntry({ app: "api", from: FROM, to: TO, range: null, result: result(), reason: "ship it", abortedBy: "alice" })).toBe("Finished deploy api 0123456..abcdef0 (commits not counted) to 2/2 hosts in 1.2s: ship it");
  });
});
