// The fleet grid's model, pure: one cell per (app, host) with the release it runs and its deploy state,
// sections per app (canaries first, then host groups), the release legend (newest first, so the newest
// and the previous release always get the two most distinct colours), and the transitions that deploy
// events (live) and journal rows (replay) make. Every change is reported as the keys of changed cells.

import { formatDuration } from "../fleet/engine.js";
import type { DeployEvent, HostProblem } from "../fleet/events.js";
import { ProgressTracker } from "../fleet/progress.js";

export type CellState = "idle" | "preparing" | "switching" | "restarting" | "checking" | "done" | "failed" | "timeout" | "unreachable" | "rolled-back";

/** A letter per state, so the grid reads without telling colours apart. */
export const STATES: Readonly<Record<CellState, { readonly letter: string; readonly label: string }>> = {
  idle: { letter: "·", label: "idle" },
  preparing: { letter: "P", label: "preparing" },
  switching: { letter: "S", label: "switching" },
  restarting: { letter: "R", label: "restarting" },
  checking: { letter: "C", label: "checking" },
  done: { letter: "✓", label: "done" },
  failed: { letter: "F", label: "failed" },
  timeout: { letter: "T", label: "timed out" },
  unreachable: { letter: "U", label: "unreachable" },
  "rolled-back": { letter: "B", label: "rolled back" },
};
const IN_PROGRESS: ReadonlySet<CellState> = new Set(["preparing", "switching", "restarting", "checking"]);

/** Colours in the legend; index 0 is the newest release, 1 the previous one. */
export const PALETTE_SIZE = 7;

export interface Cell {
  readonly key: string;
  readonly app: string;
  readonly host: string;
  state: CellState;
  /** The release the host runs, as far as we know (null: not known yet, or nothing deployed). */
  release: string | null;
  /** False when the release is the last one seen before the host stopped answering. */
  releaseFresh: boolean;
  /** The last step and its outcome, e.g. "restart failed". */
  step: string | null;
  /** Time spent on this host in the current deploy. */
  ms: number;
  error: string | null;
}

export interface Section {
  readonly app: string;
  readonly title: string;
  readonly keys: readonly string[];
}

export interface LegendEntry {
  readonly sha: string;
  readonly colour: number;
  readonly hosts: number;
  /** When tugboat first shipped it (ISO), null when it was deployed some other way. */
  readonly deployedAt: string | null;
}

/** What the grid needs to know of an app's configuration. */
export interface GridApp {
  readonly name: string;
  readonly hosts: ReadonlyArray<{ readonly name: string; readonly groups: readonly string[] }>;
  readonly canaries: readonly string[];
  readonly targets: readonly string[];
  /** The steps a host goes through after promote, to name the state a finished step leads to. */
  readonly restart: boolean;
  readonly smoke: boolean;
}

interface Running {
  readonly deployId: number;
  readonly kind: "deploy" | "rollback";
  readonly from: string | null;
  readonly to: string;
  readonly tracker: ProgressTracker;
  /** Hosts being rolled back (their next promote goes back to `from`). */
  readonly rollingBack: Set<string>;
  /** Hosts whose promote succeeded in this deploy (a second promote is the way back). */
  readonly promoted: Set<string>;
  done: boolean;
}

export const cellKey = (app: string, host: string) => `${app}/${host}`;

export function sectionsFor(app: GridApp): Section[] {
  const canaries = app.hosts.filter((h) => app.canaries.includes(h.name));
  const groups = new Map<string, string[]>();
  for (const h of app.hosts) {
    if (app.canaries.includes(h.name)) continue;
    // A host shows under the first of its groups the app targets (else its own name: a host target).
    const group = h.groups.find((g) => app.targets.includes(g)) ?? h.groups[0] ?? "hosts";
    groups.set(group, [...(groups.get(group) ?? []), h.name]);
  }
  const out: Section[] = [];
  if (canaries.length) out.push({ app: app.name, title: "canaries", keys: canaries.map((h) => cellKey(app.name, h.name)) });
  for (const [g, hosts] of groups) out.push({ app: app.name, title: g, keys: hosts.map((h) => cellKey(app.name, h)) });
  return out;
}

export class FleetGrid {
  readonly cells = new Map<string, Cell>();
  readonly sections: Section[] = [];
  private readonly apps = new Map<string, GridApp>();
  private readonly running = new Map<string, Running>();
  private readonly appOf = new Map<number, string>();
  /** Per app: sha -> when tugboat first shipped it. */
  private readonly shipped = new Map<string, Map<string, string>>();

  constructor(apps: readonly GridApp[]) {
    for (const app of apps) {
      this.apps.set(app.name, app);
      this.sections.push(...sectionsFor(app));
      for (const h of app.hosts) this.cells.set(cellKey(app.name, h.name), { key: cellKey(app.name, h.name), app: app.name, host: h.name, state: "idle", release: null, releaseFresh: true, step: null, ms: 0, error: null });
    }
  }

  app(name: string): GridApp | undefined {
    return this.apps.get(name);
  }

  appNames(): string[] {
    return [...this.apps.keys()];
  }

  /** Release times from the journal, for the legend's ages and order. */
  setShipped(app: string, times: ReadonlyMap<string, string>): void {
    this.shipped.set(app, new Map(times));
  }

  /** The deploy running (or last run) for an app, for the progress line. */
  progress(app: string): { deployId: number; kind: string; done: boolean; line: string; summary: string | null; fraction: number } | null {
    const r = this.running.get(app);
    return r ? { deployId: r.deployId, kind: r.kind, done: r.done, line: r.tracker.line(), summary: r.tracker.finished, fraction: r.tracker.fraction() } : null;
  }

  isRunning(app: string): boolean {
    const r = this.running.get(app);
    return r !== undefined && !r.done;
  }

  /** Counts per state for an app's cells. */
  counts(app: string): Partial<Record<CellState, number>> {
    const out: Partial<Record<CellState, number>> = {};
    for (const c of this.cells.values()) if (c.app === app) out[c.state] = (out[c.state] ?? 0) + 1;
    return out;
  }

  /**
   * Newest first: the last deploy's target and source (a rollback's the other way round), then the
   * releases tugboat shipped by ship time, then the others by host count.
   */
  legend(app: string): LegendEntry[] {
    const hosts = new Map<string, number>();
    for (const c of this.cells.values()) if (c.app === app && c.release) hosts.set(c.release, (hosts.get(c.release) ?? 0) + 1);
    const r = this.running.get(app);
    if (r && !r.done && !hosts.has(r.to)) hosts.set(r.to, 0);
    const times = this.shipped.get(app) ?? new Map<string, string>();
    const first = r ? (r.kind === "deploy" ? [r.to, r.from] : [r.from, r.to]) : [];
    const rank = (sha: string) => (first.includes(sha) ? first.indexOf(sha) : first.length);
    const shas = [...hosts.keys()].sort((a, b) => {
      if (rank(a) !== rank(b)) return rank(a) - rank(b);
      const ta = times.get(a);
      const tb = times.get(b);
      if (ta && tb) return ta < tb ? 1 : ta > tb ? -1 : 0;
      if (ta || tb) return ta ? -1 : 1;
      return hosts.get(b)! - hosts.get(a)!;
    });
    return shas.map((sha, i) => ({ sha, colour: Math.min(i, PALETTE_SIZE - 1), hosts: hosts.get(sha)!, deployedAt: times.get(sha) ?? null }));
  }

  /**
   * A census of the app's hosts: what each runs, or why it did not answer. During a deploy only the
   * hosts it has not started on are updated (the others' release changes under the census's feet).
   */
  census(app: string, entries: ReadonlyArray<{ host: string; current: string | null; problem: HostProblem | null }>): string[] {
    const changed: string[] = [];
    const running = this.isRunning(app);
    for (const e of entries) {
      const c = this.cells.get(cellKey(app, e.host));
      if (!c || (running && (c.state !== "idle" || c.step !== null))) continue;
      if (e.problem) {
        c.state = problemState(e.problem);
        c.releaseFresh = false;
        c.step = "census";
        c.error = e.problem.message;
      } else {
        c.release = e.current;
        c.releaseFresh = true;
        if (c.state === "unreachable" || c.state === "timeout") [c.state, c.step, c.error] = ["idle", null, null];
      }
      changed.push(c.key);
    }
    return changed;
  }

  /** Applies a live deploy event; returns the keys of cells that changed. */
  event(e: DeployEvent): string[] {
    if (e.type === "started") {
      this.appOf.set(e.deployId, e.app);
      const r: Running = { deployId: e.deployId, kind: e.kind, from: e.from, to: e.to, tracker: new ProgressTracker(), rollingBack: new Set(), promoted: new Set(), done: false };
      this.running.set(e.app, r);
      r.tracker.on(e);
      const changed: string[] = [];
      for (const c of this.cells.values()) {
        if (c.app !== e.app) continue;
        // A rollback runs on every host at once; a deploy starts hosts stage by stage.
        [c.state, c.step, c.ms, c.error] = [e.kind === "rollback" && c.state !== "unreachable" ? "switching" : c.state === "unreachable" ? "unreachable" : "idle", null, 0, c.state === "unreachable" ? c.error : null];
        changed.push(c.key);
      }
      return changed;
    }
    const app = this.appOf.get(e.deployId);
    const r = app ? this.running.get(app) : undefined;
    if (!app || !r || r.deployId !== e.deployId) return [];
    r.tracker.on(e);
    const cell = (host: string) => this.cells.get(cellKey(app, host));
    switch (e.type) {
      case "left-out":
        return e.problems.flatMap((p) => {
          const c = cell(p.host);
          if (!c) return [];
          [c.state, c.releaseFresh, c.step, c.error] = [problemState(p), false, "census", describeProblem(p)];
          return [c.key];
        });
      case "stage-started":
        return e.hosts.flatMap((h) => {
          const c = cell(h);
          if (!c) return [];
          [c.state, c.step, c.ms, c.error] = ["preparing", null, 0, null];
          return [c.key];
        });
      case "host-step":
        return this.step(app, r, e.host, e.step, e.ok ? "ok" : "failed", e.ms, null);
      case "host-done": {
        const c = cell(e.host);
        if (!c) return [];
        c.ms = e.ms;
        if (e.ok) c.state = "done";
        else if (e.problem) [c.state, c.error] = [problemState(e.problem), describeProblem(e.problem)];
        return [c.key];
      }
      case "rollback-started":
        return e.hosts.flatMap((h) => {
          const c = cell(h);
          if (!c) return [];
          r.rollingBack.add(h);
          c.state = "switching";
          return [c.key];
        });
      case "finished":
        return this.finish(app, r);
      default:
        return [];
    }
  }

  /** Starts a replay of a journal-recorded deploy: the app's cells on `from`, idle. */
  beginReplay(d: { id: number; app: string; kind: "deploy" | "rollback"; fromSha: string | null; toSha: string }): string[] {
    const changed = this.event({ type: "started", deployId: d.id, app: d.app, kind: d.kind, from: d.fromSha, to: d.toSha, hosts: 0 });
    for (const k of changed) this.cells.get(k)!.release = d.fromSha;
    return changed;
  }

  /** Applies one journal row (a step's result) of the deploy being replayed. */
  replayStep(app: string, s: { host: string; step: string; outcome: string; ms: number; detail: string | null }): string[] {
    const r = this.running.get(app);
    if (!r) return [];
    // The replay assumed every host ran `from`; one whose census failed may have run anything.
    const c = this.cells.get(cellKey(app, s.host));
    if (c && s.step === "census" && s.outcome !== "ok") c.release = null;
    return this.step(app, r, s.host, s.step, s.outcome, s.ms, s.detail);
  }

  /** Ends a replay: hosts that went through their steps without a failure are done (the journal has no "host done" row). */
  endReplay(app: string, finished: boolean): string[] {
    const r = this.running.get(app);
    if (!r || !finished) return [];
    const changed: string[] = [];
    for (const c of this.cells.values()) {
      if (c.app !== app || !IN_PROGRESS.has(c.state) || c.step === null) continue;
      c.state = r.rollingBack.has(c.host) ? "rolled-back" : "done";
      changed.push(c.key);
    }
    return [...changed, ...this.finish(app, r)];
  }

  private step(app: string, r: Running, host: string, step: string, outcome: string, ms: number, detail: string | null): string[] {
    const c = this.cells.get(cellKey(app, host));
    if (!c) return [];
    const spec = this.apps.get(app)!;
    c.step = `${step} ${outcome === "ok" ? "ok" : outcome === "failed" ? "failed" : outcome === "timeout" ? "timed out" : outcome}`;
    if (step !== "census") c.ms += ms;
    if (outcome !== "ok") {
      // A failed prune leaves the release in place and the deploy goes on: not a host failure.
      if (step === "prune") return [c.key];
      c.state = step === "census" || step === "connect" ? "unreachable" : outcome === "timeout" ? "timeout" : outcome === "unreachable" || outcome === "hostkey" || outcome === "auth" ? "unreachable" : "failed";
      if (step === "census") c.releaseFresh = false;
      if (detail) c.error = detail;
      return [c.key];
    }
    // In a deploy, a second promote of a host is its way back (the journal has no rollback marker).
    const back = r.kind === "deploy" && (r.rollingBack.has(host) || (step === "promote" && r.promoted.has(host)));
    if (step === "promote") {
      if (back) r.rollingBack.add(host);
      else r.promoted.add(host);
      c.release = back ? r.from : r.to;
      c.releaseFresh = true;
    }
    const next: CellState | null =
      step === "prepare" ? "switching"
      : step === "promote" ? (spec.restart ? "restarting" : back || r.kind === "rollback" ? null : spec.smoke ? "checking" : null)
      : step === "restart" && !back && r.kind === "deploy" && spec.smoke ? "checking"
      : null;
    if (next) c.state = next;
    else if ((step === "promote" || step === "restart") && (back || r.kind === "rollback")) c.state = back ? "rolled-back" : "done";
    return [c.key];
  }

  private finish(app: string, r: Running): string[] {
    r.done = true;
    const changed: string[] = [];
    for (const c of this.cells.values()) {
      // Hosts a halted rollout never reached were not touched.
      if (c.app === app && IN_PROGRESS.has(c.state)) {
        [c.state, c.step] = ["idle", c.step ?? "not started"];
        changed.push(c.key);
      }
    }
    return changed;
  }
}

/** Unreachable covers every way of not getting a shell (refused, no handshake, key refused). */
export function problemState(p: HostProblem): CellState {
  if (p.kind === "unreachable" || p.kind === "hostkey" || p.kind === "auth" || p.step === "connect" || p.step === "census") return "unreachable";
  if (p.kind === "timeout") return "timeout";
  return "failed";
}

export function describeProblem(p: HostProblem): string {
  // The message often ends with the last line of stderr already: show the tail only when it adds.
  const tail = p.stderrTail && !p.message.endsWith(p.stderrTail) ? p.stderrTail : null;
  return [p.message, tail].filter(Boolean).join("\n");
}

/** The text shown on hover and in the detail panel. */
export function describeCell(c: Cell, legend: readonly LegendEntry[]): string {
  const l = legend.find((x) => x.sha === c.release);
  const which = l?.colour === 0 ? " (newest)" : l?.colour === 1 ? " (previous)" : "";
  const release = c.release ? `${c.release.slice(0, 7)}${which}${c.releaseFresh ? "" : ", last known"}` : "unknown";
  const lines = [`${c.host} (${c.app}): ${STATES[c.state].label}`, `release ${release}`];
  if (c.step) lines.push(`last step: ${c.step}${c.ms ? `, ${formatDuration(c.ms)}` : ""}`);
  if (c.error) lines.push(c.error);
  return lines.join("\n");
}
