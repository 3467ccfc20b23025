// Turns deploy events into the words people read: a one-line progress summary (for a terminal
// progress bar and the channel's at-most-every-30-s line) and the census summary of `status`.

import { compressHosts } from "../chat/format.js";
import { shortSha as short } from "../git/commit-range.js";
import type { CensusEntry } from "./engine.js";
import type { DeployEvent } from "./events.js";


export class ProgressTracker {
  private deployId = 0;
  private app = "";
  private kind = "deploy";
  private range = "";
  private total = 0;
  private readonly stages: Array<{ name: string; size: number; ok: number; failed: number }> = [];
  private leftOut = 0;
  private rollingBack = 0;
  finished: string | null = null;


  on(e: DeployEvent): void {
    switch (e.type) {
      case "started":
        [this.deployId, this.app, this.kind, this.total] = [e.deployId, e.app, e.kind, e.hosts];
        this.range = `${short(e.from)}..${short(e.to)}`;
        break;
      case "left-out":
        this.leftOut = e.problems.length;
        break;
      case "stage-started":
        this.stages.push({ name: e.stage, size: e.hosts.length, ok: 0, failed: 0 });
        break;
      case "host-done": {
        // A deploy followed through the journal has no stage events: its hosts count as one stage.
        if (this.stages.length === 0) this.stages.push({ name: "hosts", size: Math.max(0, this.total - this.leftOut), ok: 0, failed: 0 });
        const s = this.stages.at(-1)!;
        e.ok ? s.ok++ : s.failed++;
        break;
      }
      case "rollback-started":
        this.rollingBack = e.hosts.length;
        break;
      case "finished":
        this.finished = e.summary;
        break;
      default:
    }
  }

  /** Hosts done out of the hosts being deployed to, 0..1. */
  fraction(): number {
    const done = this.stages.reduce((n, s) => n + s.ok + s.failed, 0);
    const total = this.total - this.leftOut;
    return total > 0 ? Math.min(1, done / total) : 0;
  }

  /** `deploy #12 api abc1234..def5678: canaries 2/2 ok; batch 1 31/48 (ok 30, failed 1, left 17)` */
  line(): string {
    const parts = this.stages.map((s) => {
      const done = s.ok + s.failed;
      if (done === s.size && s.failed === 0) return `${s.name} ${done}/${s.size} ok`;
      return `${s.name} ${done}/${s.size} (ok ${s.ok}, failed ${s.failed}, left ${s.size - done})`;
    });
    if (this.leftOut) parts.push(`${this.leftOut} left out`);
    if (this.rollingBack) parts.push(`rolling back ${this.rollingBack}`);
    return `${this.kind} #${this.deployId} ${this.app} ${this.range}: ${parts.join("; ") || "starting"}`;
  }

  bar(width = 20): string {
    const filled = Math.round(this.fraction() * width);
    return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.round(this.fraction() * 100)).padStart(3)}%`;
  }
}

/** `50 hosts: 48 on def5678, 2 on abc1234 (web[17,33]); unreachable: web40` and drift against the journal. */
export function summarizeCensus(entries: readonly CensusEntry[], journalLive: string | null): string {
  const byRev = new Map<string, string[]>();
  const problems = new Map<string, string[]>();
  for (const e of entries) {
    if (e.problem) problems.set(e.problem.kind, [...(problems.get(e.problem.kind) ?? []), e.host]);
    else byRev.set(e.state?.current ?? "none", [...(byRev.get(e.state?.current ?? "none") ?? []), e.host]);
  }
  const revs = [...byRev].sort((a, b) => b[1].length - a[1].length);
  // The majority is counted; every minority is named too, since that is where to look.
  const parts = revs.map(([rev, hosts], i) => `${hosts.length} on ${rev === "none" ? "no release" : short(rev)}${i > 0 ? ` (${compressHosts(hosts)})` : ""}`);
  let text = `${entries.length} hosts: ${parts.join(", ") || "none answered"}`;
  for (const [kind, hosts] of problems) text += `; ${kind}: ${compressHosts(hosts)}`;
  if (journalLive) {
    const off = revs.filter(([rev]) => rev !== journalLive).flatMap(([, h]) => h);
    text += off.length ? `; drift: ${off.length} not on ${short(journalLive)}, the journal's live release` : `; all match the journal (${short(journalLive)})`;
  }
  return text;
}
