// The bot's outbound IRC lines: one FIFO, paced by a token bucket so the server never disconnects us
// for "Excess Flood", and held across disconnects (irc-framework writes every line at once and drops
// what is written while disconnected). On reconnect the backlog is expired and coalesced, not dumped.
// Bulk kinds (announcements) yield to other lines (replies to people), and are coalesced as soon as
// more than maxBacklogPerKind of them wait, connected or not: a script logging 100 entries costs
// the channel a few lines, and a person's !log is still answered at once.

export interface OutboundLine {
  readonly target: string;
  readonly text: string;
  readonly notice: boolean;
  /** Lines of the same target and kind ("sal", "reply", ...) may be coalesced after a reconnect. */
  readonly kind?: string;
  /** How many lines this one stands for (a summary of several); 1 when absent. */
  readonly count?: number;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface OutboundQueueOptions {
  /** Lines sent at once when the bucket is full. Default 4. */
  readonly burst?: number;
  /** One token is refilled per interval; 0 turns pacing off. Default 1000. */
  readonly intervalMs?: number;
  /** A line held longer than this while disconnected is dropped on reconnect. Default 300000. */
  readonly lifetimeMs?: number;
  /** On reconnect, more pending lines than this of one target+kind become one summary. Default 3. */
  readonly maxBacklogPerKind?: number;
  /** Kinds that yield to other lines and are coalesced even while connected (e.g. "sal"). */
  readonly bulkKinds?: readonly string[];
  /**
   * Kinds that never expire, however long the outage (e.g. "alert": what the chat was handed of an
   * acknowledged alert must reach the channel, if only inside a coalesced summary). Their senders must
   * bound how many they queue; the alert announcer starts no round while lines wait.
   */
  readonly keepKinds?: readonly string[];
  /** Builds that summary; default `summarizeBacklog`. */
  readonly summarize?: (target: string, kind: string, lines: OutboundLine[]) => OutboundLine;
  readonly clock: Clock;
  /**
   * The transport; called only while connected. It must not throw (see `pump`). Returning false
   * means the transport found itself disconnected and did not take the line: the line stays first
   * in the queue and the queue holds until setConnected(true).
   */
  readonly write: (line: OutboundLine) => boolean | void;
  readonly onDrop?: (line: OutboundLine, reason: "expired") => void;
}

export const OUTBOUND_DEFAULTS = {
  burst: 4,
  intervalMs: 1000,
  lifetimeMs: 300_000,
  maxBacklogPerKind: 3,
} as const;

export function summarizeBacklog(target: string, kind: string, lines: OutboundLine[]): OutboundLine {
  const first = lines[0];
  return {
    target,
    kind,
    notice: first?.notice ?? false,
    text: `(${lines.reduce((n, l) => n + (l.count ?? 1), 0)} messages while disconnected, first: ${first?.text ?? ""})`,
  };
}

function requireAtLeast(name: string, value: number, min: number, integer: boolean): void {
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new RangeError(`outbound queue: ${name} must be ${integer ? "an integer " : ""}>= ${min}, got ${value}`);
  }
}

interface Pending {
  readonly line: OutboundLine;
  readonly queuedAt: number;
  /** Time spent held through outages before the latest one, summed at each reconnect. */
  heldMs: number;
}

interface DrainWaiter {
  readonly resolve: (empty: boolean) => void;
  readonly timer: unknown;
}

export class OutboundQueue {
  private readonly burst: number;
  private readonly intervalMs: number;
  private readonly lifetimeMs: number;
  private readonly maxBacklogPerKind: number;
  private readonly bulkKinds: ReadonlySet<string>;
  private readonly keepKinds: ReadonlySet<string>;
  private readonly summarize: NonNullable<OutboundQueueOptions["summarize"]>;
  private readonly clock: Clock;
  private readonly write: OutboundQueueOptions["write"];
  private readonly onDrop: OutboundQueueOptions["onDrop"];

  private pending: Pending[] = [];
  /** Starts disconnected: lines queued before the first connect are held like any backlog. */
  private connected = false;
  private disconnectedAt: number;
  private closed = false;
  private pumping = false;
  private tokens: number;
  private refilledAt: number;
  private timer: { readonly handle: unknown } | null = null;
  private waiters = new Set<DrainWaiter>();
  private droppedCount = 0;
  private sentCount = 0;

  constructor(o: OutboundQueueOptions) {
    this.burst = o.burst ?? OUTBOUND_DEFAULTS.burst;
    this.intervalMs = o.intervalMs ?? OUTBOUND_DEFAULTS.intervalMs;
    this.lifetimeMs = o.lifetimeMs ?? OUTBOUND_DEFAULTS.lifetimeMs;
    this.maxBacklogPerKind = o.maxBacklogPerKind ?? OUTBOUND_DEFAULTS.maxBacklogPerKind;
    this.bulkKinds = new Set(o.bulkKinds ?? []);
    this.keepKinds = new Set(o.keepKinds ?? []);
    requireAtLeast("burst", this.burst, 1, true);
    requireAtLeast("intervalMs", this.intervalMs, 0, false);
    requireAtLeast("lifetimeMs", this.lifetimeMs, 0, false);
    requireAtLeast("maxBacklogPerKind", this.maxBacklogPerKind, 1, true);
    this.summarize = o.summarize ?? summarizeBacklog;
    this.clock = o.clock;
    this.write = o.write;
    this.onDrop = o.onDrop;
    this.disconnectedAt = this.clock.now();
    this.tokens = this.burst;
    this.refilledAt = this.clock.now();
  }

  /** Lines waiting to be written. */
  get depth(): number {
    return this.pending.length;
  }

  /** Lines dropped because they expired while disconnected. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Lines handed to the transport (a summary counts as one). */
  get sent(): number {
    return this.sentCount;
  }

  enqueue(line: OutboundLine): void {
    if (this.closed) throw new Error(`outbound queue is closed; not sending to ${line.target}`);
    this.pending.push({ line, queuedAt: this.clock.now(), heldMs: 0 });
    if (line.kind !== undefined && this.bulkKinds.has(line.kind)) this.coalesce(line.target, line.kind);
    this.pump();
  }

  setConnected(connected: boolean): void {
    if (this.closed || connected === this.connected) return;
    this.connected = connected;
    const now = this.clock.now();
    if (!connected) {
      this.disconnectedAt = now;
      this.cancelTimer();
      return;
    }
    this.tokens = this.burst;
    this.refilledAt = now;
    this.expire(now);
    this.coalesce();
    this.pump();
  }

  /** Resolves true once the queue is empty, false if it is not empty after `timeoutMs`. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.pending.length === 0) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: DrainWaiter = {
        resolve,
        timer: this.clock.setTimeout(() => {
          this.waiters.delete(waiter);
          resolve(this.pending.length === 0);
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Stops sending for good. Unsent lines stay counted in `depth`; pending drains resolve now. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelTimer();
    this.settleWaiters(this.pending.length === 0);
  }

  private pump(): void {
    // A write that enqueues or disconnects re-enters here; the outer loop carries on in order.
    if (this.pumping) return;
    this.pumping = true;
    try {
      this.refill();
      for (;;) {
        if (!this.connected || this.closed) return;
        if (this.intervalMs > 0 && this.tokens < 1) break;
        // The oldest line that is not bulk goes first; bulk lines when nothing else waits.
        const at = this.pending.findIndex((p) => p.line.kind === undefined || !this.bulkKinds.has(p.line.kind));
        const next = this.pending.splice(at < 0 ? 0 : at, 1)[0];
        if (next === undefined) break;
        if (this.intervalMs > 0) this.tokens -= 1;
        let taken: boolean | void;
        try {
          taken = this.write(next.line);
        } catch (err) {
          // Keep the line rather than lose it; the error still reaches whoever triggered the write.
          this.pending.unshift(next);
          if (this.intervalMs > 0) this.tokens += 1;
          throw err;
        }
        if (taken === false) {
          // The connection died before we heard of it: keep the line, as if the disconnect came first.
          this.pending.unshift(next);
          if (this.intervalMs > 0) this.tokens += 1;
          this.setConnected(false);
          return;
        }
        this.sentCount++;
      }
      if (this.pending.length === 0) this.settleWaiters(true);
      else this.scheduleRefill();
    } finally {
      this.pumping = false;
    }
  }

  private refill(): void {
    if (this.intervalMs === 0) return;
    const now = this.clock.now();
    // A full bucket earns nothing; the next token is due one interval after the first one spent.
    if (this.tokens >= this.burst) {
      this.refilledAt = now;
      return;
    }
    const earned = Math.floor((now - this.refilledAt) / this.intervalMs);
    if (earned <= 0) return;
    this.tokens = Math.min(this.burst, this.tokens + earned);
    this.refilledAt = this.tokens >= this.burst ? now : this.refilledAt + earned * this.intervalMs;
  }

  private scheduleRefill(): void {
    if (this.timer !== null) return;
    const delay = Math.max(0, this.refilledAt + this.intervalMs - this.clock.now());
    this.timer = {
      handle: this.clock.setTimeout(() => {
        this.timer = null;
        this.pump();
      }, delay),
    };
  }

  private cancelTimer(): void {
    if (this.timer === null) return;
    this.clock.clearTimeout(this.timer.handle);
    this.timer = null;
  }

  /**
   * Drops lines held longer than the lifetime in all outages together (time spent connected is free),
   * except lines of the keep kinds.
   */
  private expire(now: number): void {
    const kept: Pending[] = [];
    const expired: Pending[] = [];
    for (const p of this.pending) {
      p.heldMs += now - Math.max(p.queuedAt, this.disconnectedAt);
      const keep = p.line.kind !== undefined && this.keepKinds.has(p.line.kind);
      (p.heldMs > this.lifetimeMs && !keep ? expired : kept).push(p);
    }
    this.pending = kept;
    this.droppedCount += expired.length;
    for (const p of expired) this.onDrop?.(p.line, "expired");
  }

  /** Replaces each oversized (target, kind) group by one summary at the place of its first line. */
  /** Coalesces every (target, kind) group over the limit, or only the one named. */
  private coalesce(onlyTarget?: string, onlyKind?: string): void {
    const groups = new Map<string, Pending[]>();
    for (const p of this.pending) {
      if (p.line.kind === undefined) continue;
      if (onlyKind !== undefined && (p.line.kind !== onlyKind || p.line.target !== onlyTarget)) continue;
      const key = JSON.stringify([p.line.target, p.line.kind]);
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [p]);
      else group.push(p);
    }
    const replacement = new Map<Pending, Pending | null>();
    for (const group of groups.values()) {
      const first = group[0];
      if (first === undefined || group.length <= this.maxBacklogPerKind) continue;
      const lines = group.map((p) => p.line);
      const made = this.summarize(first.line.target, first.line.kind ?? "", lines);
      const summary = { ...made, count: lines.reduce((n, l) => n + (l.count ?? 1), 0) };
      // As old as its newest line, so a summary held through another outage expires with that line.
      const newest = group.reduce((a, b) => (b.heldMs < a.heldMs ? b : a), first);
      for (const p of group) replacement.set(p, null);
      replacement.set(first, { line: summary, queuedAt: newest.queuedAt, heldMs: newest.heldMs });
    }
    if (replacement.size === 0) return;
    this.pending = this.pending.flatMap((p) => {
      const r = replacement.get(p);
      return r === undefined ? [p] : r === null ? [] : [r];
    });
  }

  private settleWaiters(empty: boolean): void {
    for (const waiter of this.waiters) {
      this.clock.clearTimeout(waiter.timer);
      waiter.resolve(empty);
    }
    this.waiters.clear();
  }
}
