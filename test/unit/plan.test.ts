import { describe, expect, it } from "vitest";
import { failureBudget, planStages, resolveAmount } from "../../src/fleet/plan.js";

const hosts = Array.from({ length: 10 }, (_, i) => `web${String(i + 1).padStart(2, "0")}`);

describe("planStages", () => {
  it("canaries first, then batches of the rest in inventory order", () => {
    expect(planStages(hosts, ["web03", "web07", "db01"], 4)).toEqual([
      { name: "canaries", kind: "canary", hosts: ["web03", "web07"] },
      { name: "batch 1", kind: "batch", hosts: ["web01", "web02", "web04", "web05"] },
      { name: "batch 2", kind: "batch", hosts: ["web06", "web08", "web09", "web10"] },
    ]);
  });
  it("percentages of the remaining hosts, rounded up; 0 means all at once", () => {
    expect(planStages(hosts, [], "25%").map((s) => s.hosts.length)).toEqual([3, 3, 3, 1]);
    expect(planStages(hosts, [], 0).map((s) => s.hosts.length)).toEqual([10]);
    expect(planStages(hosts, hosts, 3).map((s) => s.kind)).toEqual(["canary"]);
    expect(planStages([], [], 3)).toEqual([]);
  });
});

describe("amounts and budgets", () => {
  it.each([
    [3, 10, 3], ["10%", 10, 1], ["1%", 50, 1], ["50%", 5, 3], ["0%", 10, 0],
  ] as const)("resolveAmount(%j, %i) = %i", (a, of, want) => expect(resolveAmount(a, of)).toBe(want));
  it.each([
    [1, 10, 1], ["10%", 10, 1], ["10%", 9, 0], ["30%", 20, 6], ["0%", 50, 0],
  ] as const)("failureBudget(%j, %i) = %i", (b, size, want) => expect(failureBudget(b, size)).toBe(want));
});
