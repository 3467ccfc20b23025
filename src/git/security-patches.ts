// The private security patches: *.patch files applied with `git am --3way`, one at a time and in
// name order, in a throw-away worktree, each reported as applied / already applied / failed.
// Their content (diff, subject, author) never reaches a result or an error: git's output is read
// through a whitelist of one-line reasons, and messages carry only file names and counts.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { UserError } from "../errors.js";
import type { GitRunner } from "./git-runner.js";

export interface PatchResult {
  name: string;
  status: "applied" | "already-applied" | "failed";
  /** For a failure: git's one-line reason (a path and line at most), never patch text. */
  detail?: string;
}

export interface PatchFile {
  name: string;
  path: string;
}

/** A security patch did not apply: the deploy stops. The message holds names and counts only. */
export class PatchError extends UserError {
  constructor(
    readonly results: readonly PatchResult[],
    readonly notTried: number,
    where: string,
  ) {
    const failed = results.find((r) => r.status === "failed");
    const kind = failed?.detail?.startsWith("conflict") ? "conflicts" : "does not apply";
    const applied = results.filter((r) => r.status === "applied").length;
    const already = results.filter((r) => r.status === "already-applied").length;
    super(
      `security patch ${failed?.name ?? "?"} ${kind} on ${where}: deploy stopped ` +
        `(${applied} applied, ${already} already applied, ${notTried} not tried)`,
    );
  }
}

/** Settings that make `git am` deterministic (same ref + same patches = same SHA) and hook-free. */
export const AM_CONFIG: readonly string[] = [
  "user.name=tugboat",
  "user.email=tugboat@localhost",
  "commit.gpgSign=false",
  "core.hooksPath=/dev/null",
  "am.messageId=false",
  "am.keepCR=false",
  "rerere.enabled=false",
];

/** The *.patch files of `dir` in name order; none when dir is null or missing. */
export async function listPatches(dir: string | null): Promise<PatchFile[]> {
  if (dir === null) return [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".patch"))
    .map((e) => e.name)
    .sort()
    .map((name) => ({ name, path: join(dir, name) }));
}

const REASONS: ReadonlyArray<[RegExp, (m: RegExpExecArray) => string]> = [
  [/^CONFLICT \([^)]*\): Merge conflict in (.+)$/, (m) => `conflict in ${m[1]}`],
  [/^CONFLICT \(([^)]*)\)/, (m) => `conflict (${m[1]})`],
  [/^error: patch failed: (.+)$/, (m) => `patch failed at ${m[1]}`],
  [/^error: (.+): (does not exist in index|already exists in (?:index|working directory)|does not match index)$/, (m) => `${m[1]} ${m[2]}`],
  [/^error: sha1 information is lacking or useless \((.+)\)\.$/, (m) => `no base to merge with for ${m[1]}`],
  [/^Patch format detection failed\.$/, () => "not a patch (format detection failed)"],
  [/^Patch is empty\.$/, () => "empty patch"],
];

/** git's reason for a failed `git am`, from whitelisted lines only (patch text never matches). */
export function failureReason(output: string, exitCode: number): string {
  const reasons: string[] = [];
  for (const line of output.split("\n")) {
    for (const [re, say] of REASONS) {
      const m = re.exec(line.trim());
      if (m) {
        if (!reasons.includes(say(m))) reasons.push(say(m));
        break;
      }
    }
  }
  // Conflicts first: "patch failed at" is only how the 3-way fallback started.
  reasons.sort((a, b) => Number(b.startsWith("conflict")) - Number(a.startsWith("conflict")));
  return reasons.length > 0 ? reasons.slice(0, 2).join("; ").slice(0, 300) : `git am failed (exit ${exitCode})`;
}

export interface Patched {
  sha: string;
  results: PatchResult[];
  failed: boolean;
}

/**
 * Applies `patches` on `base` in a temporary worktree of `repo` (one stage at a time per repo:
 * the caller serialises); stops at the first failure.
 */
export async function applyPatches(git: GitRunner, repo: string, base: string, patches: readonly PatchFile[], signal?: AbortSignal): Promise<Patched> {
  // Next to the staging repo (same disk, not a small tmpfs); one left by a crash goes first.
  const prefix = `.${basename(repo)}-stage-`;
  for (const old of await readdir(dirname(repo))) if (old.startsWith(prefix)) await rm(join(dirname(repo), old), { recursive: true, force: true });
  const dir = await mkdtemp(join(dirname(repo), prefix));
  try {
    await git.run({ op: "worktree add", cwd: repo, args: ["worktree", "add", "--detach", "--quiet", dir, base], signal });
    const head = async (): Promise<string> => (await git.run({ op: "rev-parse", cwd: dir, args: ["rev-parse", "HEAD"], signal })).trim();
    const results: PatchResult[] = [];
    let sha = base;
    for (const patch of patches) {
      const out = await git.exec({
        op: "am",
        cwd: dir,
        config: AM_CONFIG,
        args: ["am", "--3way", "--committer-date-is-author-date", "--", patch.path],
        signal,
      });
      if (out.exitCode !== 0) {
        results.push({ name: patch.name, status: "failed", detail: failureReason(`${out.stdout.toString("utf8")}\n${out.stderr}`, out.exitCode) });
        return { sha, results, failed: true };
      }
      const after = await head();
      results.push({ name: patch.name, status: after === sha ? "already-applied" : "applied" });
      sha = after;
    }
    return { sha, results, failed: false };
  } finally {
    // --force: a failed `git am` leaves its session and conflicted files behind. Cleanup errors
    // must not hide the outcome above; rm and prune cover a remove that failed.
    await git.exec({ op: "worktree remove", cwd: repo, args: ["worktree", "remove", "--force", dir] }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await git.exec({ op: "worktree prune", cwd: repo, args: ["worktree", "prune"] }).catch(() => undefined);
  }
}
