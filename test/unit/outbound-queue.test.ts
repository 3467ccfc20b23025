import { describe, expect, it } from "vitest";
import {
  OutboundQueue,
  summarizeBacklog,
  type OutboundLine,
  type OutboundQueueOptions,
} from "../../src/chat/outbound-queue.js";
import { FakeClock } from "../fakes/fake-clock.js";

interface Written {
  readonly at: number;
  readonly line: OutboundLine;
}

function setup(options: Partial<Omit<OutboundQueueOptions, "clock" | "write">> = {}) {
  const clock = new FakeClock(1_000_000);
  const written: Written[] = [];
  const drops: { line: OutboundLine; reason: string }[] = [];
  const queue = new OutboundQueue({
    ...options,
    clock,
    write: (line) => void written.push({ at: clock.now(), line }),
    onDrop: (line, reason) => drops.push({ line, reason }),
  });
  const texts = (): string[] => written.map((w) => w.line.text);
  return { clock, queue, written, drops, texts, start: clock.now() };
}

function line(text: string, extra: Partial<OutboundLine> = {}): OutboundLine {
  return { target: "#ops", text, notice: false, ...extra };
}

function enqueueMany(queue: OutboundQueue, count: number, extra: Partial<OutboundLine> = {}, from = 1): void {
  for (let i = from; i < from + count; i++) queue.enqueue(line(`line ${i}`, extra));
}

describe("OutboundQueue pacing", () => {
  it("sends a burst of 4, then one line per second: 50 lines take 46 s", () => {
    const { clock, queue, written, start } = setup();
    queue.setConnected(true);
    enqueueMany(queue, 50);
    expect(written).toHaveLength(4);

    for (let t = 0; t < 60_000; t += 100) {
      clock.advance(100);
      expect(clock.pending).toBeLessThanOrEqual(1); // one timer for the next token, never a loop
    }
    expect(written).toHaveLength(50);
    const offsets = written.map((w) => w.at - start);
    expect(offsets.slice(0, 4)).toEqual([0, 0, 0, 0]);
    offsets.slice(4).forEach((offset, i) => expect(offset).toBe((i + 1) * 1000));
    expect(offsets.at(-1)).toBe(46_000);
    expect(queue.sent).toBe(50);
    expect(queue.depth).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it.each([
    { burst: 1, intervalMs: 1000, lines: 5, lastAt: 4000 },
    { burst: 5, intervalMs: 2000, lines: 10, lastAt: 10_000 },
    { burst: 4, intervalMs: 500, lines: 4, lastAt: 0 },
    { burst: 4, intervalMs: 250, lines: 24, lastAt: 5000 },
  ])("burst $burst, interval $intervalMs ms: $lines lines, the last at +$lastAt ms", (row) => {
    const { burst, intervalMs, lines, lastAt } = row;
    const { clock, queue, written, start } = setup({ burst, intervalMs });
    queue.setConnected(true);
    enqueueMany(queue, lines);
    expect(written).toHaveLength(Math.min(burst, lines));
    clock.advance(lastAt + 10 * intervalMs);
    expect(written).toHaveLength(lines);
    expect((written.at(-1)?.at ?? Number.NaN) - start).toBe(lastAt);
  });

  it("refills the bucket only up to the burst while idle", () => {
    const { clock, queue, written, start } = setup();
    queue.setConnected(true);
    enqueueMany(queue, 4);
    clock.advance(60_000);
    enqueueMany(queue, 10, {}, 5);
    expect(written).toHaveLength(8);
    clock.advance(999);
    expect(written).toHaveLength(8);
    clock.advance(1);
    expect(written).toHaveLength(9);
    expect((written.at(-1)?.at ?? 0) - start).toBe(61_000);
  });

  it("spends tokens refilled part-way", () => {
    const { clock, queue, written, start } = setup();
    queue.setConnected(true);
    enqueueMany(queue, 4); // bucket empty at +0
    clock.advance(2500); // two tokens back, the third due at +3000
    enqueueMany(queue, 5, {}, 5);
    expect(written.map((w) => w.at - start)).toEqual([0, 0, 0, 0, 2500, 2500]);
    clock.advance(500);
    expect(written.map((w) => w.at - start).slice(6)).toEqual([3000]);
    clock.advance(2000);
    expect(written.map((w) => w.at - start).slice(6)).toEqual([3000, 4000, 5000]);
  });

  it("with intervalMs 0 sends everything at once and sets no timer", () => {
    const { clock, queue, written } = setup({ intervalMs: 0 });
    queue.setConnected(true);
    enqueueMany(queue, 100);
    expect(written).toHaveLength(100);
    expect(clock.pending).toBe(0);
    expect(clock.delays).toEqual([]);
  });

  it("writes in FIFO order across targets, kinds and notices", () => {
    const { clock, queue, written } = setup({ burst: 2 });
    queue.setConnected(true);
    const lines = [
      line("a", { kind: "reply" }),
      line("b", { target: "#dev", kind: "sal", notice: true }),
      line("c"),
      line("d", { target: "nick" }),
      line("e", { kind: "sal" }),
      line("f", { target: "#dev" }),
    ];
    lines.slice(0, 3).forEach((l) => queue.enqueue(l));
    clock.advance(1500);
    lines.slice(3).forEach((l) => queue.enqueue(l));
    clock.advance(10_000);
    expect(written.map((w) => w.line)).toEqual(lines);
  });

  it("keeps order when the transport enqueues from inside write", () => {
    const clock = new FakeClock();
    const texts: string[] = [];
    const queue: OutboundQueue = new OutboundQueue({
      clock,
      intervalMs: 0,
      write: (l) => {
        texts.push(l.text);
        if (l.text === "first") queue.enqueue(line("echo"));
      },
    });
    queue.setConnected(true);
    queue.enqueue(line("first"));
    queue.enqueue(line("second"));
    expect(texts).toEqual(["first", "echo", "second"]);
  });
});

describe("OutboundQueue across disconnects", () => {
  it("starts disconnected and holds lines until connected", () => {
    const { queue, written } = setup();
    enqueueMany(queue, 3);
    expect(written).toHaveLength(0);
    expect(queue.depth).toBe(3);
    queue.setConnected(true);
    expect(written).toHaveLength(3);
  });

  it("holds lines while disconnected, with no timer, and restarts with a full bucket", () => {
    const { clock, queue, written, start } = setup();
    queue.setConnected(true);
    enqueueMany(queue, 10);
    clock.advance(1000);
    expect(written).toHaveLength(5);

    queue.setConnected(false);
    expect(clock.pending).toBe(0);
    enqueueMany(queue, 2, {}, 11);
    clock.advance(60_000);
    expect(written).toHaveLength(5);
    expect(queue.depth).toBe(7);

    queue.setConnected(true);
    expect(written).toHaveLength(9);
    expect(written.slice(5).map((w) => w.at - start)).toEqual([61_000, 61_000, 61_000, 61_000]);
    clock.advance(3000);
    expect(written.map((w) => w.line.text)).toEqual(Array.from({ length: 12 }, (_, i) => `line ${i + 1}`));
  });

  it("stops at once when the transport reports a disconnect from inside write", () => {
    const clock = new FakeClock();
    const texts: string[] = [];
    const queue: OutboundQueue = new OutboundQueue({
      clock,
      write: (l) => {
        texts.push(l.text);
        if (l.text === "line 2") queue.setConnected(false);
      },
    });
    queue.setConnected(true);
    enqueueMany(queue, 4);
    expect(texts).toEqual(["line 1", "line 2"]);
    expect(queue.depth).toBe(2);
    expect(clock.pending).toBe(0);
  });

  it("ignores repeated connection states", () => {
    const { clock, queue, written } = setup();
    queue.setConnected(true);
    enqueueMany(queue, 6);
    queue.setConnected(true); // must not refill the bucket
    expect(written).toHaveLength(4);
    queue.setConnected(false);
    queue.setConnected(false);
    clock.advance(5000);
    expect(written).toHaveLength(4);
  });

  it("keeps the line and rethrows when the transport throws", () => {
    const clock = new FakeClock();
    const texts: string[] = [];
    let fail = true;
    const queue = new OutboundQueue({
      clock,
      write: (l) => {
        if (fail) throw new Error("socket gone");
        texts.push(l.text);
      },
    });
    enqueueMany(queue, 2);
    expect(() => queue.setConnected(true)).toThrow("socket gone");
    expect(queue.depth).toBe(2);
    expect(queue.sent).toBe(0);
    fail = false;
    queue.enqueue(line("line 3"));
    expect(texts).toEqual(["line 1", "line 2", "line 3"]);
  });
});

describe("OutboundQueue expiry", () => {
  it.each([
    { name: "held past the lifetime", heldMs: 300_001, kept: false },
    { name: "held exactly the lifetime", heldMs: 300_000, kept: true },
    { name: "held briefly", heldMs: 5000, kept: true },
  ])("a line $name while disconnected", ({ heldMs, kept }) => {
    const { clock, queue, written, drops } = setup();
    queue.enqueue(line("old", { kind: "sal" }));
    clock.advance(heldMs);
    queue.setConnected(true);
    expect(written.map((w) => w.line.text)).toEqual(kept ? ["old"] : []);
    expect(queue.dropped).toBe(kept ? 0 : 1);
    expect(drops).toEqual(kept ? [] : [{ line: line("old", { kind: "sal" }), reason: "expired" }]);
  });

  it("drops only the lines older than the lifetime, kind or not, and keeps order", () => {
    const { clock, queue, texts, drops } = setup({ lifetimeMs: 60_000 });
    queue.enqueue(line("old reply", { kind: "reply" }));
    queue.enqueue(line("old plain"));
    clock.advance(30_000);
    queue.enqueue(line("new plain"));
    queue.enqueue(line("new sal", { kind: "sal" }));
    clock.advance(30_001);
    queue.setConnected(true);
    expect(texts()).toEqual(["new plain", "new sal"]);
    expect(drops.map((d) => d.line.text)).toEqual(["old reply", "old plain"]);
    expect(queue.dropped).toBe(2);
    expect(queue.depth).toBe(0);
  });

  it("never drops a line of a keep kind, however long the outage; it is coalesced with its kind", () => {
    const { clock, queue, texts, drops } = setup({ lifetimeMs: 60_000, keepKinds: ["alert"], intervalMs: 0 });
    queue.enqueue(line("old reply"));
    enqueueMany(queue, 4, { kind: "alert" });
    clock.advance(3_600_000);
    queue.setConnected(true);
    expect(drops.map((d) => d.line.text)).toEqual(["old reply"]);
    expect(texts()).toEqual(["(4 messages while disconnected, first: line 1)"]);
    expect(queue.dropped).toBe(1);
  });

  it("counts a waiting line's age from the disconnect, not from when it was queued", () => {
    const { clock, queue, texts } = setup({ lifetimeMs: 60_000, burst: 1, intervalMs: 100_000 });
    queue.setConnected(true);
    enqueueMany(queue, 2); // line 2 waits 100 s for a token
    clock.advance(90_000);
    queue.setConnected(false);
    clock.advance(59_000); // queued 149 s ago, held 59 s
    queue.setConnected(true);
    expect(texts()).toEqual(["line 1", "line 2"]);
    expect(queue.dropped).toBe(0);
  });

  it("adds up the time a line is held across outages", () => {
    const { clock, queue, texts, drops } = setup({ lifetimeMs: 60_000, burst: 1 });
    queue.setConnected(true);
    enqueueMany(queue, 3); // line 1 goes out, 2 and 3 wait
    queue.setConnected(false);
    clock.advance(40_000);
    queue.setConnected(true); // full bucket: line 2 goes out, line 3 has been held 40 s
    queue.setConnected(false);
    clock.advance(20_001);
    queue.setConnected(true);
    expect(texts()).toEqual(["line 1", "line 2"]);
    expect(drops.map((d) => d.line.text)).toEqual(["line 3"]);
  });
});

describe("OutboundQueue coalescing", () => {
  it("coalesces each oversized (target, kind) group into one summary at its first line", () => {
    const { queue, written } = setup({ intervalMs: 0 });
    queue.enqueue(line("sal 1", { kind: "sal", notice: true }));
    queue.enqueue(line("plain 1"));
    queue.enqueue(line("sal 2", { kind: "sal", notice: true }));
    queue.enqueue(line("other sal 1", { target: "#other", kind: "sal" }));
    queue.enqueue(line("reply 1", { kind: "reply" }));
    queue.enqueue(line("sal 3", { kind: "sal", notice: true }));
    queue.enqueue(line("plain 2"));
    queue.enqueue(line("other sal 2", { target: "#other", kind: "sal" }));
    queue.enqueue(line("sal 4", { kind: "sal", notice: true }));
    queue.enqueue(line("plain 3"));
    queue.enqueue(line("plain 4"));
    queue.enqueue(line("sal 5", { kind: "sal", notice: true }));
    queue.setConnected(true);

    expect(written.map((w) => w.line)).toEqual([
      { target: "#ops", kind: "sal", notice: true, text: "(5 messages while disconnected, first: sal 1)", count: 5 },
      line("plain 1"),
      line("other sal 1", { target: "#other", kind: "sal" }),
      line("reply 1", { kind: "reply" }),
      line("plain 2"),
      line("other sal 2", { target: "#other", kind: "sal" }),
      line("plain 3"),
      line("plain 4"),
    ]);
    expect(queue.sent).toBe(8);
  });

  it.each([
    { name: "at the limit nothing is coalesced", max: 3, count: 3, want: ["r1", "r2", "r3"] },
    { name: "one over the limit is coalesced", max: 3, count: 4, want: ["(4 messages while disconnected, first: r1)"] },
    { name: "a limit of one", max: 1, count: 2, want: ["(2 messages while disconnected, first: r1)"] },
    { name: "a higher limit", max: 10, count: 10, want: Array.from({ length: 10 }, (_, i) => `r${i + 1}`) },
  ])("$name", ({ max, count, want }) => {
    const { queue, texts } = setup({ intervalMs: 0, maxBacklogPerKind: max });
    for (let i = 1; i <= count; i++) queue.enqueue(line(`r${i}`, { kind: "reply" }));
    queue.setConnected(true);
    expect(texts()).toEqual(want);
  });

  it("never coalesces lines without a kind", () => {
    const { queue, texts } = setup({ intervalMs: 0 });
    enqueueMany(queue, 20);
    queue.setConnected(true);
    expect(texts()).toHaveLength(20);
  });

  it("expires before it counts a group", () => {
    const { clock, queue, texts } = setup({ intervalMs: 0, lifetimeMs: 10_000 });
    enqueueMany(queue, 3, { kind: "sal" });
    clock.advance(8000);
    enqueueMany(queue, 2, { kind: "sal" }, 4);
    clock.advance(5000);
    queue.setConnected(true);
    expect(texts()).toEqual(["line 4", "line 5"]);
    expect(queue.dropped).toBe(3);
  });

  it("builds summaries with the summarize option", () => {
    const calls: { target: string; kind: string; texts: string[] }[] = [];
    const { queue, written } = setup({
      intervalMs: 0,
      summarize: (target, kind, lines) => {
        calls.push({ target, kind, texts: lines.map((l) => l.text) });
        return { target, kind, notice: true, text: `${lines.length} ${kind} entries missed` };
      },
    });
    enqueueMany(queue, 4, { target: "#dev", kind: "sal" });
    queue.setConnected(true);
    expect(calls).toEqual([{ target: "#dev", kind: "sal", texts: ["line 1", "line 2", "line 3", "line 4"] }]);
    expect(written.map((w) => w.line)).toEqual([
      { target: "#dev", kind: "sal", notice: true, text: "4 sal entries missed", count: 4 },
    ]);
  });

  it("coalesces lines that were waiting for tokens when the connection dropped", () => {
    const { queue, texts } = setup({ burst: 1 });
    queue.setConnected(true);
    enqueueMany(queue, 6, { kind: "reply" });
    queue.setConnected(false);
    queue.setConnected(true);
    expect(texts()).toEqual(["line 1", "(5 messages while disconnected, first: line 2)"]);
  });

  it("is paced like any line after the reconnect", () => {
    const { clock, queue, written, start } = setup();
    enqueueMany(queue, 5, { kind: "sal" });
    enqueueMany(queue, 6, {}, 6);
    queue.setConnected(true);
    clock.advance(10_000);
    expect(written.map((w) => w.at - start)).toEqual([0, 0, 0, 0, 1000, 2000, 3000]);
    expect(written[0]?.line.text).toBe("(5 messages while disconnected, first: line 1)");
  });

  it("summarizeBacklog names the count and the first line", () => {
    expect(summarizeBacklog("#ops", "sal", [line("a", { notice: true }), line("b")])).toEqual({
      target: "#ops",
      kind: "sal",
      notice: true,
      text: "(2 messages while disconnected, first: a)",
    });
  });
});

describe("OutboundQueue drain and close", () => {
  it("resolves true at once when empty", async () => {
    const { queue, clock } = setup();
    await expect(queue.drain(1000)).resolves.toBe(true);
    expect(clock.pending).toBe(0);
  });

  it("resolves true when the paced backlog is out, and clears its timeout", async () => {
    const { clock, queue } = setup();
    queue.setConnected(true);
    enqueueMany(queue, 10);
    const drained = queue.drain(30_000);
    clock.advance(6000);
    await expect(drained).resolves.toBe(true);
    expect(queue.depth).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it("resolves false when the timeout comes first", async () => {
    const { clock, queue } = setup();
    queue.setConnected(true);
    enqueueMany(queue, 10);
    const drained = queue.drain(3000);
    clock.advance(3000);
    await expect(drained).resolves.toBe(false);
    expect(queue.depth).toBe(3);
  });

  it("waits through a disconnect and resolves when the lines go out", async () => {
    const { clock, queue } = setup({ intervalMs: 0 });
    enqueueMany(queue, 2);
    let settled: boolean | undefined;
    const drained = queue.drain(60_000).then((v) => (settled = v));
    clock.advance(30_000);
    await Promise.resolve();
    expect(settled).toBeUndefined();
    queue.setConnected(true);
    await drained;
    expect(settled).toBe(true);
  });

  it("resolves true when the whole backlog expires", async () => {
    const { clock, queue } = setup({ lifetimeMs: 1000 });
    enqueueMany(queue, 2);
    const drained = queue.drain(60_000);
    clock.advance(2000);
    queue.setConnected(true);
    await expect(drained).resolves.toBe(true);
  });

  it("close stops sending, settles drains with false and refuses new lines", async () => {
    const { clock, queue, written } = setup();
    queue.setConnected(true);
    enqueueMany(queue, 10);
    const drained = queue.drain(60_000);
    queue.close();
    await expect(drained).resolves.toBe(false);
    expect(clock.pending).toBe(0);
    clock.advance(60_000);
    expect(written).toHaveLength(4);
    expect(queue.depth).toBe(6);
    expect(() => queue.enqueue(line("late"))).toThrow(/closed/);
    queue.setConnected(false);
    queue.setConnected(true);
    expect(written).toHaveLength(4);
    await expect(queue.drain(10)).resolves.toBe(false);
  });
});

describe("OutboundQueue options", () => {
  it.each([
    { name: "burst 0", options: { burst: 0 } },
    { name: "fractional burst", options: { burst: 1.5 } },
    { name: "negative interval", options: { intervalMs: -1 } },
    { name: "infinite interval", options: { intervalMs: Number.POSITIVE_INFINITY } },
    { name: "negative lifetime", options: { lifetimeMs: -1 } },
    { name: "maxBacklogPerKind 0", options: { maxBacklogPerKind: 0 } },
    { name: "NaN burst", options: { burst: Number.NaN } },
  ])("rejects $name", ({ options }) => {
    expect(() => setup(options)).toThrow(RangeError);
  });
});

describe("a transport that finds itself disconnected", () => {
  it("keeps the refused line first and resumes with it after reconnect", () => {
    const clock = new FakeClock();
    const written: string[] = [];
    let up = true;
    const q = new OutboundQueue({ burst: 4, intervalMs: 1000, lifetimeMs: 60_000, maxBacklogPerKind: 3, clock, write: (l) => (up ? void written.push(l.text) : false) });
    q.setConnected(true);
    q.enqueue({ target: "#a", text: "one", notice: false });
    up = false;
    q.enqueue({ target: "#a", text: "two", notice: false });
    q.enqueue({ target: "#a", text: "three", notice: false });
    expect(written).toEqual(["one"]);
    expect(q.depth).toBe(2);
    up = true;
    q.setConnected(true);
    expect(written).toEqual(["one", "two", "three"]);
    expect(q.sent).toBe(3);
  });
});

describe("bulk kinds (announcements)", () => {
  function bulkQueue() {
    const clock = new FakeClock();
    const written: OutboundLine[] = [];
    const q = new OutboundQueue({
      burst: 2, intervalMs: 1000, lifetimeMs: 60_000, maxBacklogPerKind: 3, bulkKinds: ["sal"], clock,
      write: (l) => void written.push(l),
      summarize: (target, kind, lines) => ({ target, kind, notice: true, text: `${lines.reduce((n, l) => n + (l.count ?? 1), 0)} entries, latest ${lines.at(-1)!.text}` }),
    });
    q.setConnected(true);
    return { clock, written, q };
  }

  it("are coalesced while connected once more than the limit wait, counting what a summary stood for", () => {
    const { clock, written, q } = bulkQueue();
    for (let i = 1; i <= 100; i++) q.enqueue({ target: "#ops", text: `entry ${i}`, notice: true, kind: "sal" });
    clock.advance(10_000);
    // 100 announcements cost the channel 4 lines.
    expect(written.map((l) => l.text)).toEqual(["entry 1", "entry 2", "97 entries, latest entry 99", "entry 100"]);
    expect(q.depth).toBe(0);
  });

  it("yield to replies: a person's answer overtakes queued announcements", () => {
    const { clock, written, q } = bulkQueue();
    for (let i = 1; i <= 3; i++) q.enqueue({ target: "#ops", text: `entry ${i}`, notice: true, kind: "sal" });
    q.enqueue({ target: "#ops", text: "alice: Logged the message", notice: false, kind: "reply" });
    clock.advance(1000);
    expect(written.map((l) => l.text)).toEqual(["entry 1", "entry 2", "alice: Logged the message"]);
    clock.advance(1000);
    expect(written.at(-1)?.text).toBe("entry 3");
  });
});
