// The SAL's words for deploys, rollbacks and locks: one wording whether the bot ran the operation
// (`!deploy`) or a terminal did (`tugboat deploy`), so a reader of the SAL sees the same entries, each
// with its commit range.

import { compressHosts } from "../chat/format.js";
import type { Config } from "../config/schema.js";
import { formatDuration, groupProblems, type OperationResult } from "../fleet/engine.js";
import { shortSha as short, type CommitRange } from "../git/commit-range.js";

/** Where deploys are reported: the first SAL channel, else the first channel the bot joins. */
export function reportChannel(config: Config): string | null {
  return Object.keys(config.sal.channels)[0] ?? (config.chat === "irc" ? config.irc?.channels[0] : config.console.channel) ?? null;
}


type Counted = Pick<CommitRange, "count" | "added" | "deleted">;

/** null: the range could not be counted (the entry says so rather than a wrong count). */
const commits = (from: string | null, r: Counted | null) => (from === null ? "first deploy" : r === null ? "commits not counted" : `${r.count} commit${r.count === 1 ? "" : "s"}`);

/** "Started deploy api 0123456..abc1234 (3 commits): REASON" */
export function startedEntry(app: string, from: string | null, to: string, range: Counted | null, reason: string): string {
  return `Started deploy ${app} ${short(from)}..${short(to)} (${commits(from, range)}): ${reason}`;
}

/** How a deploy ended: finished, aborted, rolled back by a gate or the failure budget, or failed. */
export function finishedEntry(o: { app: string; from: string | null; to: string; range: Counted | null; result: OperationResult; reason: string; abortedBy: string }): string {
  const { app, from, result, reason } = o;
  const range = `${short(from)}..${short(o.to)}`;
  const stat = from === null || o.range === null ? commits(from, o.range) : `${commits(from, o.range)}, +${o.range.added}/-${o.range.deleted}`;
  const failedHosts = result.problems.map((p) => p.host);
  const failed = failedHosts.length ? ` (failed: ${compressHosts(failedHosts)})` : "";
  const took = formatDuration(result.ms);
  if (result.state === "succeeded") return `Finished deploy ${app} ${range} (${stat}) to ${result.ok.length}/${result.ok.length + result.problems.length} hosts in ${took}: ${reason}${failed}`;
  if (result.state === "aborted") return `Aborted deploy ${app} ${range} by ${o.abortedBy} after ${took}${result.rolledBack.length ? `; rolled back ${compressHosts(result.rolledBack)}` : ""}: ${reason}`;
  if (result.state === "rolled-back") return `Rolled back deploy ${app} ${range} after ${took} (${result.summary.split("; ").slice(1, 2).join("")})${result.rolledBack.length ? `; ${compressHosts(result.rolledBack)} back on ${short(from)}` : ""}: ${reason}${failed}`;
  return `Failed deploy ${app} ${range} after ${took}, left as it is: ${reason}${failed}`;
}

/** "Rolled back api to 0123456 on 3 hosts in 1.2s: REASON" (and the hosts it could not). */
export function rollbackEntry(app: string, result: OperationResult, reason: string): string {
  const hosts = result.ok.length;
  const failed = notOn(result);
  return `Rolled back ${app} to ${short(result.to)} on ${hosts} host${hosts === 1 ? "" : "s"} in ${formatDuration(result.ms)}: ${reason}${failed}`;
}

/** " (not on web3: unreachable)": the hosts a rollback left where they were, and why; "" when none. */
export function notOn(result: Pick<OperationResult, "problems">): string {
  return result.problems.length ? ` (not on ${compressHosts(result.problems.map((p) => p.host))}: ${groupProblems(result.problems)})` : "";
}

export function lockEntry(scope: string, reason: string): string {
  return `Locked ${scope === "all" ? "all deploys (freeze)" : scope}: ${reason}`;
}

export function unlockEntry(scope: string, interrupted: ReadonlyArray<{ id: number }>): string {
  return `Unlocked ${scope === "all" ? "all deploys" : scope}${interrupted.length ? ` (cleared stale deploy #${interrupted.map((d) => d.id).join(", #")})` : ""}`;
}
