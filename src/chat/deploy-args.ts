// Argument shapes shared by the deploy commands: `APP [REF] -- REASON` and friends, validated with zod.
// The reason is kept as text (formatting stripped) and never reaches a shell; refs and apps are checked.

import { z } from "zod";
import { stripFormatting } from "./format.js";

export const appArg = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "an app name such as api");
export const refArg = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._/@{}^~-]*$/, "a branch, tag or commit (letters, digits, . _ / -)")
  .refine((r) => !r.includes(".."), "a single ref, not a range");

/** Splits `WORDS -- REASON` (REASON may be absent); formatting is stripped from both parts. */
export function splitReason(text: string): { words: string[]; reason: string | null } {
  const clean = stripFormatting(text).replace(/\s+/g, " ").trim();
  const at = clean === "--" ? 0 : clean.startsWith("-- ") ? 0 : clean.indexOf(" -- ");
  const head = at < 0 ? clean : clean.slice(0, at);
  const reason = at < 0 ? null : clean.slice(at === 0 ? 2 : at + 4).trim();
  return { words: head.split(" ").filter(Boolean), reason: reason === "" ? null : reason };
}

export const reasonText = z.string().min(3, "say why (at least a few words)").max(400, "the reason is too long (400 characters at most)");

/** `APP [REV] -- REASON` with the reason required. */
export function targetWithReason(second: "ref" | "rev" | "none") {
  return z.string().transform((text, ctx) => {
    const { words, reason } = splitReason(text);
    const max = second === "none" ? 1 : 2;
    if (words.length < 1 || words.length > max) {
      ctx.addIssue({ code: "custom", message: second === "none" ? "expected an app name (or all)" : `expected an app and at most one ${second === "ref" ? "ref" : "revision"}` });
      return z.NEVER;
    }
    if (reason === null) {
      ctx.addIssue({ code: "custom", message: 'a reason is required after " -- " (SAL entries without one are useless)' });
      return z.NEVER;
    }
    const parsed = z.object({ app: second === "none" ? z.union([appArg, z.literal("all")]) : appArg, rev: refArg.optional(), reason: reasonText }).safeParse({ app: words[0], rev: words[1], reason });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", message: `${String(issue.path[0] ?? "")}: ${issue.message}` });
      return z.NEVER;
    }
    return parsed.data;
  });
}

/** `[APP]`: an optional app name and nothing else. */
export const optionalApp = z.string().transform((text, ctx) => {
  const { words, reason } = splitReason(text);
  if (words.length > 1 || reason !== null) {
    ctx.addIssue({ code: "custom", message: "expected at most an app name" });
    return z.NEVER;
  }
  if (words[0] === undefined) return undefined;
  const app = appArg.safeParse(words[0]);
  if (!app.success) {
    ctx.addIssue({ code: "custom", message: app.error.issues[0]!.message });
    return z.NEVER;
  }
  return app.data;
});
