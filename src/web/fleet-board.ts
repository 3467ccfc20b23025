// The live fleet board: the grid of every app's hosts kept current from deploy events and censuses,
// and the stream of patches behind /fleet/events. Changes are coalesced (at most one message per
// flushMs); the last `keep` messages are kept so a browser that reconnects with Last-Event-ID gets
// exactly what it missed, and anything older (or an id from before a restart) gets a snapshot.

import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import type { CensusEntry } from "../fleet/engine.js";
import type { DeployEvent } from "../fleet/events.js";
import type { DeployJournal } from "../fleet/journal.js";
import { resolveHosts } from "../fleet/inventory.js";
import { FleetGrid, type GridApp } from "./fleet-grid.js";
import { gridPatch, type GridPatch } from "./fleet-view.js";

export interface FleetBoardDeps {
  readonly apps: readonly GridApp[];
  readonly census: (app: string, signal: AbortSignal) => Promise<CensusEntry[]>;
  /** When tugboat first shipped each release of the app (sha -> ISO time), from the journal. */
  readonly shipped: (app: string) => ReadonlyMap<string, string>;
  readonly log: Logger;
  /** Wall-clock milliseconds (for release ages and census freshness). */
  readonly now: () => number;
  /** A page view reads the fleet again when the last census is older than this. */
  readonly censusMaxAgeMs?: number;
  readonly flushMs?: number;
  readonly keep?: number;
}

export function gridApps(config: Config): GridApp[] {
  return Object.entries(config.apps).map(([name, app]) => ({
    name, hosts: resolveHosts(config.fleet, app), canaries: app.canaries, targets: app.targets, restart: app.restart !== null, smoke: app.smoke.length > 0,
  }));
}

/** sha -> when tugboat first began shipping it to the app (deploys, not rollbacks). */
export function shippedTimes(journal: Pick<DeployJournal, "list">, app: string): Map<string, string> {
  const times = new Map<string, string>();
  // Newest first: the last write for a sha is its first deploy.
  for (const d of journal.list(app, 500)) if (d.kind === "deploy") times.set(d.toSha, d.startedAt);
  return times;
}

/** A message: per app, the keys of changed cells (serialised per subscriber, for its apps). */
interface Message {
  readonly seq: number;
  readonly keys: ReadonlyMap<string, readonly string[]>;
}

interface Subscriber {
  readonly apps: ReadonlySet<string>;
  readonly send: (id: string, data: string) => void;
}

export class FleetBoard {
  readonly grid: FleetGrid;
  /** Ids are EPOCH.SEQ: an id from another run of the bot never matches this one's sequence. */
  private readonly epoch = randomBytes(4).toString("hex");
  private seq = 0;
  private readonly messages: Message[] = [];
  private readonly subscribers = new Set<Subscriber>();
  private pending = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | null = null;
  private readonly legends = new Map<string, string>();
  private readonly censusAt = new Map<string, number>();
  private readonly censusRuns = new Map<string, { readonly generation: number; readonly run: Promise<void> }>();
  /** Bumped when a deploy starts: a census begun before it must not overwrite its cells. */
  private readonly generation = new Map<string, number>();
  private readonly abort = new AbortController();
  private readonly own = new Set<number>();

  constructor(private readonly d: FleetBoardDeps) {
    this.grid = new FleetGrid(d.apps);
    for (const app of d.apps) this.grid.setShipped(app.name, d.shipped(app.name));
  }

  private get flushMs(): number {
    return this.d.flushMs ?? 100;
  }

  id(): string {
    return `${this.epoch}.${this.seq}`;
  }

  /**
   * A census of the app unless one ran within censusMaxAgeMs or runs now. Censuses are driven by
   * viewers (a page view, a deploy finishing while someone watches): nobody watching, no SSH traffic.
   */
  refreshIfOld(app: string): void {
    const at = this.censusAt.get(app);
    if (at === undefined || this.d.now() - at > (this.d.censusMaxAgeMs ?? 60_000)) void this.refresh(app);
  }

  refresh(app: string): Promise<void> {
    if (this.abort.signal.aborted) return Promise.resolve();
    const generation = this.generation.get(app) ?? 0;
    const running = this.censusRuns.get(app);
    // One census per app at a time; one begun before a deploy is followed by a fresh one.
    if (running) return running.generation === generation ? running.run : running.run.then(() => this.refresh(app));
    this.censusAt.set(app, this.d.now());
    const run = this.d
      .census(app, this.abort.signal)
      .then((entries) => {
        if (this.abort.signal.aborted) return;
        // Begun before a deploy started: stale; the next page view asks again.
        if ((this.generation.get(app) ?? 0) !== generation) return void this.censusAt.delete(app);
        this.censusAt.set(app, this.d.now());
        this.changed(app, this.grid.census(app, entries.map((e) => ({ host: e.host, current: e.state?.current ?? null, problem: e.problem }))));
      })
      .catch((err: unknown) => {
        if (!this.abort.signal.aborted) this.d.log.warn({ err, app }, "fleet census for the dashboard failed");
      })
      .finally(() => this.censusRuns.delete(app));
    this.censusRuns.set(app, { generation, run });
    return run;
  }

  /** Whether this process runs the deploy (its events come live, not from the journal). */
  owns(deployId: number): boolean {
    return this.own.has(deployId);
  }

  /**
   * A deploy or rollback event: live from this process's DeployService, or made from the journal rows
   * of a deploy another process runs (JournalFollower).
   */
  onEvent(e: DeployEvent, origin: "live" | "journal" = "live"): void {
    if (e.type === "started" && origin === "live") this.own.add(e.deployId);
    if (e.type === "started") {
      this.generation.set(e.app, (this.generation.get(e.app) ?? 0) + 1);
      this.grid.setShipped(e.app, this.d.shipped(e.app));
    }
    const keys = this.grid.event(e);
    const app = keys[0]?.split("/")[0] ?? (e.type === "started" ? e.app : this.appOfEvent(e));
    if (app) this.changed(app, keys);
    // The hosts' true state after the deploy (and the journal's new ship time for the legend).
    if (e.type === "finished" && app) {
      this.grid.setShipped(app, this.d.shipped(app));
      this.changed(app, []);
      if ([...this.subscribers].some((s) => s.apps.has(app))) void this.refresh(app);
    }
  }

  private appOfEvent(e: DeployEvent): string | null {
    for (const app of this.grid.appNames()) if (this.grid.progress(app)?.deployId === e.deployId) return app;
    return null;
  }

  private changed(app: string, keys: readonly string[]): void {
    const set = this.pending.get(app) ?? new Set<string>();
    for (const k of keys) set.add(k);
    this.pending.set(app, set);
    this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  private flush(): void {
    this.timer = null;
    const pending = this.pending;
    this.pending = new Map();
    const keys = new Map<string, readonly string[]>();
    for (const [app, set] of pending) {
      // New colours for the app's releases recolour every cell of it.
      const legend = this.grid.legend(app).map((l) => `${l.sha}:${l.colour}`).join(",");
      const all = this.legends.get(app) !== legend;
      this.legends.set(app, legend);
      keys.set(app, all ? [...this.grid.cells.values()].filter((c) => c.app === app).map((c) => c.key) : [...set]);
    }
    const m: Message = { seq: ++this.seq, keys };
    this.messages.push(m);
    if (this.messages.length > (this.d.keep ?? 500)) this.messages.shift();
    for (const s of this.subscribers) this.deliver(s, [m]);
  }

  private deliver(s: Subscriber, ms: readonly Message[]): void {
    const keys: string[] = [];
    const apps = new Set<string>();
    for (const m of ms) for (const [app, ks] of m.keys) if (s.apps.has(app)) [apps.add(app), keys.push(...ks)];
    const last = ms.at(-1);
    if (!last || apps.size === 0) return;
    s.send(`${this.epoch}.${last.seq}`, JSON.stringify(gridPatch(this.grid, new Set(keys), apps, this.d.now())));
  }

  /** The patch of everything about these apps (a snapshot). */
  snapshot(apps: readonly string[]): GridPatch {
    const set = new Set(apps);
    return gridPatch(this.grid, [...this.grid.cells.values()].filter((c) => set.has(c.app)).map((c) => c.key), apps, this.d.now());
  }

  /**
   * Follows the board for these apps from `lastId` (the page's id, or the browser's Last-Event-ID):
   * the messages missed when they are still kept, else a snapshot. Returns the unsubscribe function.
   */
  subscribe(apps: readonly string[], lastId: string | null, send: (id: string, data: string) => void): () => void {
    const s: Subscriber = { apps: new Set(apps), send };
    const m = lastId ? /^([0-9a-f]{8})\.(\d+)$/.exec(lastId) : null;
    const since = m && m[1] === this.epoch ? Number(m[2]) : null;
    const oldest = this.messages[0]?.seq ?? this.seq + 1;
    if (since !== null && since <= this.seq && since >= oldest - 1) this.deliver(s, this.messages.filter((x) => x.seq > since));
    else send(this.id(), JSON.stringify(this.snapshot(apps)));
    this.subscribers.add(s);
    return () => this.subscribers.delete(s);
  }

  /** Stops censuses and the flush timer (streams are ended by the web server). */
  async close(): Promise<void> {
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.subscribers.clear();
    await Promise.allSettled([...this.censusRuns.values()].map((c) => c.run));
  }
}
