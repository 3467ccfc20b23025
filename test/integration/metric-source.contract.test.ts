// The MetricSource contract: the same assertions on the real Graphite (carbon-cache + graphite-web),
// the real Prometheus (history backfilled with promtool), and the fake the unit tests use. Plus what
// only a real adapter can show: refused connections and deadlines, named as such.

import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GraphiteSource } from "../../src/metrics/graphite.js";
import { PrometheusSource } from "../../src/metrics/prometheus.js";
import { MetricError, type MarkerStore, type MetricSource } from "../../src/metrics/source.js";
import { FakeMetricSource } from "../fakes/fake-metric-source.js";
import { freePort } from "../servers/daemon.js";
import { startGraphite, type GraphiteServer } from "../servers/graphite.js";
import { startPrometheus, type PrometheusServer } from "../servers/prometheus.js";

const STEP = 10_000;
const T0 = Math.floor(Date.now() / STEP) * STEP - 30 * 60_000;
const N = 30;
const GAP = 7;
const value = (i: number) => (i % 5) + 0.5;
const times = Array.from({ length: N }, (_, i) => T0 + i * STEP);
const expected = times.map((t, i) => ({ t, v: i === GAP ? null : value(i) })).filter((p) => p.v !== null);

interface Subject {
  source: MetricSource;
  markers: MarkerStore | null;
  q: { one: string; none: string; two: string; bad: string };
}

let graphite: GraphiteServer;
let prometheus: PrometheusServer;
const subjects: Record<string, Subject> = {};

beforeAll(async () => {
  [graphite, prometheus] = await Promise.all([
    startGraphite(),
    startPrometheus({
      backfill: [
        // The gap is a NaN sample: Prometheus would otherwise repeat the previous value for 5 minutes.
        { name: "test_errors", samples: times.map((t, i) => [t, i === GAP ? NaN : value(i)] as const) },
        { name: "test_multi", labels: { host: "a" }, samples: times.map((t) => [t, 1] as const) },
        { name: "test_multi", labels: { host: "b" }, samples: times.map((t) => [t, 2] as const) },
      ],
    }),
  ]);
  // The gap is a missing point: Graphite answers null for it.
  await graphite.backfill([...times.flatMap((t, i) => (i === GAP ? [] : [["test.errors", value(i), t] as const])), ...times.map((t) => ["test.multi.a", 1, t] as const), ...times.map((t) => ["test.multi.b", 2, t] as const)]);
  const g = new GraphiteSource({ url: graphite.url, timeoutMs: 10_000 });
  subjects.graphite = { source: g, markers: g, q: { one: "test.errors", none: "test.nothing", two: "test.multi.*", bad: "noSuchFunction(test.errors)" } };
  subjects.prometheus = { source: new PrometheusSource({ url: prometheus.url, timeoutMs: 10_000 }), markers: null, q: { one: "test_errors", none: "test_nothing", two: "test_multi", bad: "sum((" } };
  const fake = new FakeMetricSource();
  fake.set("errors", times.map((t, i) => ({ t, v: i === GAP ? null : value(i) })));
  fake.set("multi", times.map((t) => ({ t, v: 1 })), times.map((t) => ({ t, v: 2 })));
  subjects.fake = { source: fake, markers: fake, q: { one: "errors", none: "nothing", two: "multi", bad: "sum((" } };
}, 240_000);

afterAll(async () => {
  await Promise.all([graphite?.stop(), prometheus?.close()]);
});

describe.each(["graphite", "prometheus", "fake"])("MetricSource contract: %s", (name) => {
  const s = () => subjects[name]!;

  it("returns the history in time order, a missing value as null (never a number)", async () => {
    const points = await s().source.range({ query: s().q.one, from: T0, to: T0 + (N - 1) * STEP, stepSec: 10 });
    expect(points.filter((p) => p.v !== null)).toEqual(expected);
    expect(points.find((p) => p.t === T0 + GAP * STEP)?.v ?? null).toBeNull();
    expect(points.every((p, i) => i === 0 || p.t > points[i - 1]!.t)).toBe(true);
  });

  it("a sub-range holds only points inside it", async () => {
    const points = await s().source.range({ query: s().q.one, from: T0 + 10 * STEP, to: T0 + 14 * STEP, stepSec: 10 });
    expect(points.map((p) => p.v)).toEqual([0.5, 1.5, 2.5, 3.5, 4.5]);
  });

  it("a query that matches nothing is an empty series", async () => {
    expect(await s().source.range({ query: s().q.none, from: T0, to: T0 + (N - 1) * STEP, stepSec: 10 })).toEqual([]);
  });

  it("a query that matches several series is an error that says so", async () => {
    const e = await s().source.range({ query: s().q.two, from: T0, to: T0 + (N - 1) * STEP, stepSec: 10 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MetricError);
    expect((e as MetricError).kind).toBe("query");
    expect((e as MetricError).message).toMatch(/returns 2 series/);
  });

  it("a query the backend cannot parse is an HTTP error with the status", async () => {
    const e = await s().source.range({ query: s().q.bad, from: T0, to: T0 + (N - 1) * STEP, stepSec: 10 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MetricError);
    expect((e as MetricError).kind).toBe("http");
    expect((e as MetricError).message).toMatch(/HTTP (400|500)/);
  });

  it("markers: a deploy marker comes back with its tags and data, filtered by tags", async () => {
    const m = s().markers;
    if (!m) return expect(name).toBe("prometheus"); // Prometheus keeps no events; markers go to Graphite.
    const when = Math.floor(Date.now() / 1000) * 1000 - 60_000;
    await m.mark({ what: "deploy api", tags: ["deploy", "api"], when, data: "abc1234..def5678 by alice: fix" });
    await m.mark({ what: "deploy web", tags: ["deploy", "web"], when: when + 1000, data: "x" });
    const found = await m.markers(when - 60_000, when + 60_000, ["deploy", "api"]);
    expect(found).toEqual([{ what: "deploy api", tags: ["deploy", "api"], when, data: "abc1234..def5678 by alice: fix" }]);
  });
});

describe("real adapters name their failures", () => {
  let blackhole: Server;
  const sockets = new Set<Socket>();
  let silentPort: number;
  beforeAll(async () => {
    // Accepts connections and never answers: a hung backend.
    blackhole = createServer((sock) => void sockets.add(sock));
    await new Promise<void>((r) => blackhole.listen(0, "127.0.0.1", r));
    silentPort = (blackhole.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => blackhole.close(r));
  });

  it.each([["graphite"], ["prometheus"]])("%s: refused and timed out", async (kind) => {
    const make = (url: string) => (kind === "graphite" ? new GraphiteSource({ url, timeoutMs: 300 }) : new PrometheusSource({ url, timeoutMs: 300 }));
    const closed = await freePort();
    const q = { query: "x", from: T0, to: T0 + STEP, stepSec: 10 };
    await expect(make(`http://127.0.0.1:${closed}`).range(q)).rejects.toMatchObject({ kind: "refused", message: `${kind}: connection refused` });
    await expect(make(`http://127.0.0.1:${silentPort}`).range(q)).rejects.toMatchObject({ kind: "timeout", message: `${kind}: no answer within 300 ms` });
  });

  it("graphite: a failing marker is refused, not silently dropped", async () => {
    const closed = await freePort();
    await expect(new GraphiteSource({ url: `http://127.0.0.1:${closed}`, timeoutMs: 300 }).mark({ what: "x", tags: ["deploy"], when: Date.now(), data: "" })).rejects.toMatchObject({ kind: "refused" });
  });
});
