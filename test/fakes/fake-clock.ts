// A Clock whose time moves only when a test calls advance(): timers run in due order (ties in the
// order they were set), each at its own due time, including timers set by other timers' callbacks.

import type { Clock } from "../../src/chat/outbound-queue.js";

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

export class FakeClock implements Clock {
  private time: number;
  private nextId = 1;
  private readonly timers: Timer[] = [];
  /** Every delay passed to setTimeout, in call order. */
  readonly delays: number[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.delays.push(ms);
    this.timers.push({ id, at: this.time + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    const index = this.timers.findIndex((t) => t.id === handle);
    if (index >= 0) this.timers.splice(index, 1);
  }

  /** Timers set and not yet run or cleared. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (let next = this.nextDue(until); next !== undefined; next = this.nextDue(until)) {
      this.timers.splice(this.timers.indexOf(next), 1);
      this.time = next.at;
      next.fn();
    }
    this.time = until;
  }

  private nextDue(until: number): Timer | undefined {
    let due: Timer | undefined;
    for (const t of this.timers) {
      if (t.at <= until && (due === undefined || t.at < due.at || (t.at === due.at && t.id < due.id))) due = t;
    }
    return due;
  }
}
