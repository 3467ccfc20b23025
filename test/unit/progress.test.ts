import { describe, expect, it } from "vitest";
import type { CensusEntry } from "../../src/fleet/engine.js";
import { ProgressTracker, summarizeCensus } from "../../src/fleet/progress.js";

const A = "a".repeat(40);
const B = "b".repeat(40);

describe("ProgressTracker", () => {
  it("summarises stages in one line", () => {
    const p = new ProgressTracker();
    p.on({ type: "started", deployId: 12, app: "api", kind: "deploy", from: A, to: B, hosts: 51 });
    p.on({ type: "left-out", deployId: 12, problems: [{ host: "web40", kind: "unreachable", step: "census", message: "x" }] });
    p.on({ type: "stage-started", deployId: 12, stage: "canaries", hosts: ["web01", "web02"] });
    p.on({ type: "host-done", deployId: 12, host: "web01", ok: true, ms: 1 });
    p.on({ type: "host-done", deployId: 12, host: "web02", ok: true, ms: 1 });
    p.on({ type: "stage-started", deployId: 12, stage: "batch 1", hosts: Array.from({ length: 48 }, (_, i) => `w${i}`) });
    for (let i = 0; i < 31; i++) p.on({ type: "host-done", deployId: 12, host: `w${i}`, ok: i !== 5, ms: 1 });
    expect(p.line()).toBe("deploy #12 api aaaaaaa..bbbbbbb: canaries 2/2 ok; batch 1 31/48 (ok 30, failed 1, left 17); 1 left out");
    expect(p.fraction()).toBeCloseTo(33 / 50);
    expect(p.bar(10)).toBe("[#######...]  66%");
  });
});

describe("summarizeCensus", () => {
  const state = (current: string | null) => ({ current, previous: null, releases: [], haves: [] });
  it("counts hosts per release, lists the minority and problems compressed, and compares with the journal", () => {
    const entries: CensusEntry[] = [
      ...Array.from({ length: 48 }, (_, i) => ({ host: `web${String(i + 1).padStart(2, "0")}`, state: state(B), problem: null })),
      { host: "web49", state: state(A), problem: null },
      { host: "web50", state: state(A), problem: null },
      { host: "web51", state: null, problem: { host: "web51", kind: "unreachable", step: "census", message: "refused" } },
    ];
    expect(summarizeCensus(entries, B)).toBe("51 hosts: 48 on bbbbbbb, 2 on aaaaaaa (web[49-50]); unreachable: web51; drift: 2 not on bbbbbbb, the journal's live release");
    expect(summarizeCensus(entries.slice(0, 3), B)).toBe("3 hosts: 3 on bbbbbbb; all match the journal (bbbbbbb)");
  });
});
