// Parses `!silence MATCHERS DURATION -- REASON` (matchers as Alertmanager writes them: name=value,
// name!=value, name=~regex, name!~regex; values may be double-quoted) and durations such as 2h, 1h30m.

import { z } from "zod";
import type { Matcher } from "./alertmanager-api.js";

const MATCHER = /^([A-Za-z_][A-Za-z0-9_]*)(=~|!~|!=|=)(?:"((?:[^"\\]|\\.)*)"|(\S*))$/;
const DURATION = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const UNITS = [604_800, 86_400, 3_600, 60, 1];

export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text);
  if (!m || text === "") return null;
  const sec = UNITS.reduce((sum, unit, i) => sum + Number(m[i + 1] ?? 0) * unit, 0);
  return sec > 0 ? sec * 1000 : null;
}

export function parseMatcher(text: string): Matcher | string {
  const m = MATCHER.exec(text);
  if (!m) return `"${text}" is not a matcher (name=value, name!=value, name=~regex or name!~regex)`;
  const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, "$1") : (m[4] ?? "");
  if (m[2] === "=~" || m[2] === "!~") {
    try {
      new RegExp(value);
    } catch {
      return `"${value}" is not a valid regular expression`;
    }
  }
  return { name: m[1]!, value, isRegex: m[2]!.includes("~"), isEqual: !m[2]!.startsWith("!") };
}

const MAX_MS = 90 * 86_400_000;

export const silenceArgs = z.string().transform((raw, ctx) => {
  const at = raw.indexOf(" -- ");
  const reason = at < 0 ? "" : raw.slice(at + 4).trim();
  if (at < 0 || reason === "") {
    ctx.addIssue({ code: "custom", message: "say why after -- (a silence without a reason is not allowed)" });
    return z.NEVER;
  }
  const words = raw.slice(0, at).trim().split(/\s+/).filter(Boolean);
  const duration = words.pop();
  const ms = duration === undefined ? null : parseDuration(duration);
  if (ms === null) {
    ctx.addIssue({ code: "custom", message: `"${duration ?? ""}" is not a duration (e.g. 30m, 2h, 1d)` });
    return z.NEVER;
  }
  if (ms > MAX_MS) {
    ctx.addIssue({ code: "custom", message: "a silence lasts at most 90 days" });
    return z.NEVER;
  }
  if (words.length === 0) {
    ctx.addIssue({ code: "custom", message: "give at least one matcher, e.g. alertname=DiskFull" });
    return z.NEVER;
  }
  const matchers: Matcher[] = [];
  for (const w of words) {
    const m = parseMatcher(w);
    if (typeof m === "string") {
      ctx.addIssue({ code: "custom", message: m });
      return z.NEVER;
    }
    matchers.push(m);
  }
  if (!matchers.some((m) => m.isEqual && !(m.isRegex && /^\.\*$/.test(m.value)))) {
    ctx.addIssue({ code: "custom", message: "at least one matcher must select something (name=value or name=~regex other than .*)" });
    return z.NEVER;
  }
  return { matchers, ms, durationText: duration!, reason, text: words.join(" ") };
});
