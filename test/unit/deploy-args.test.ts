import { describe, expect, it } from "vitest";
import { optionalApp, splitReason, targetWithReason } from "../../src/chat/deploy-args.js";

const deployArgs = targetWithReason("ref");

describe("deploy arguments", () => {
  it.each([
    ["api -- fix T1234", { app: "api", reason: "fix T1234" }],
    ["api wmf/1.42.0-wmf.5 -- train", { app: "api", rev: "wmf/1.42.0-wmf.5", reason: "train" }],
    ["api  main   --   spaced   out  ", { app: "api", rev: "main", reason: "spaced out" }],
    ["api -- \x0304red\x03 $(rm -rf /); `id` | tee", { app: "api", reason: "red $(rm -rf /); `id` | tee" }],
  ])("%j", (input, want) => {
    expect(deployArgs.parse(input)).toEqual(want);
  });

  it.each([
    ["api", /a reason is required after " -- "/],
    ["api --", /a reason is required/],
    ["", /expected an app and at most one ref/],
    ["api main extra -- x y z", /expected an app and at most one ref/],
    ["API -- why not", /app: an app name/],
    ["api --upload-pack=x -- why", /rev: a branch, tag or commit/],
    ["api main..evil -- why", /rev: a single ref/],
    ["api -- no", /say why/],
  ])("%j is refused", (input, error) => {
    const r = deployArgs.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message).join("; ")).toMatch(error);
  });

  it("splits the reason at the first ' -- ' only", () => {
    expect(splitReason("api -- a -- b")).toEqual({ words: ["api"], reason: "a -- b" });
    expect(splitReason("-- only a reason")).toEqual({ words: [], reason: "only a reason" });
  });

  it("optional app", () => {
    expect(optionalApp.parse("")).toBeUndefined();
    expect(optionalApp.parse(" api ")).toBe("api");
    expect(optionalApp.safeParse("api more").success).toBe(false);
  });
});
