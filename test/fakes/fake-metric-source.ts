// A MetricSource and MarkerStore in memory for fast unit tests: series per query string, markers in an
// array, and drive methods to make a query fail or lag. test/integration/metric-source.contract.test.ts
// runs the same assertions on it as on the real Graphite and Prometheus adapters.

import { MetricError, type Marker, type MarkerStore, type MetricSource, type Point, type RangeQuery } from "../../src/metrics/source.js";

export class FakeMetricSource implements MetricSource, MarkerStore {
  readonly kind: string;
  /** query -> series (several means the query matches several series). */
  readonly series = new Map<string, Point[][]>();
  readonly marked: Marker[] = [];
  readonly queries: RangeQuery[] = [];
  private failure: MetricError | null = null;
  private markFailure: MetricError | null = null;

  constructor(kind = "fake") {
    this.kind = kind;
  }

  set(query: string, ...series: Point[][]): this {
    this.series.set(query, series);
    return this;
  }

  /** Every range() call fails with this until cleared (null). */
  fail(kind: MetricError["kind"] | null, message = "connection refused"): void {
    this.failure = kind ? new MetricError(kind, this.kind, message) : null;
  }

  failMarkers(kind: MetricError["kind"] | null, message = "connection refused"): void {
    this.markFailure = kind ? new MetricError(kind, this.kind, message) : null;
  }

  async range(q: RangeQuery): Promise<Point[]> {
    this.queries.push(q);
    if (this.failure) throw this.failure;
    if (q.query.includes("((")) throw new MetricError("http", this.kind, `HTTP 400: cannot parse ${q.query}`);
    const found = this.series.get(q.query) ?? [];
    if (found.length > 1) throw new MetricError("query", this.kind, `"${q.query}" returns ${found.length} series`);
    return (found[0] ?? []).filter((p) => p.t >= q.from && p.t <= q.to);
  }

  async mark(m: Marker): Promise<void> {
    if (this.markFailure) throw this.markFailure;
    this.marked.push(m);
  }

  async markers(from: number, to: number, tags: readonly string[]): Promise<Marker[]> {
    if (this.markFailure) throw this.markFailure;
    return this.marked.filter((m) => m.when >= from && m.when <= to && tags.every((t) => m.tags.includes(t))).sort((a, b) => a.when - b.when);
  }
}
