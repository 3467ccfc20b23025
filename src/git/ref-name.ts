// Validation of the refs and SHAs chat users type, before any of it reaches a git argv:
// the rules of `git check-ref-format`, plus a leading "-" (an option to git) and a length cap.
// Pure functions; messages quote the input with control characters escaped.
import { UserError } from "../errors.js";

const MAX_REF_LENGTH = 200;
const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;
const SHORT_SHA = /^[0-9a-f]{4,64}$/i;

/** Shows user text inside an error message: quoted, control characters escaped, long text cut. */
export function quoted(text: string): string {
  const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
  return JSON.stringify(shown);
}

/** Why `ref` is not an acceptable branch, tag or SHA, or null when it is. */
export function refProblem(ref: string): string | null {
  if (ref.length === 0) return "is empty";
  if (ref.length > MAX_REF_LENGTH) return `is longer than ${MAX_REF_LENGTH} characters`;
  if (ref.startsWith("-")) return 'must not start with "-"';
  if (/[\x00-\x20\x7f]/.test(ref)) return "must not contain spaces or control characters";
  if (ref.includes("..")) return 'must not contain ".."';
  if (ref.includes("@{")) return 'must not contain "@{"';
  if (ref === "@") return 'must not be "@"';
  const bad = /[~^:?*[\\]/.exec(ref);
  if (bad) return `must not contain ${quoted(bad[0])}`;
  if (ref.startsWith("/") || ref.endsWith("/") || ref.includes("//")) return 'must not start or end with "/" or contain "//"';
  if (ref.endsWith(".")) return 'must not end with "."';
  for (const part of ref.split("/")) {
    if (part.startsWith(".")) return 'must not have a part starting with "."';
    if (part.endsWith(".lock")) return 'must not have a part ending in ".lock"';
  }
  return null;
}

/** Throws a UserError naming the ref and the rule it breaks. */
export function assertValidRef(ref: string): void {
  const problem = refProblem(ref);
  if (problem !== null) throw new UserError(`invalid ref ${quoted(ref)}: ${problem}`);
}

export function isFullSha(text: string): boolean {
  return FULL_SHA.test(text);
}

/** Could be an (abbreviated) commit id; git needs at least 4 hex digits. */
export function looksLikeSha(text: string): boolean {
  return SHORT_SHA.test(text);
}
