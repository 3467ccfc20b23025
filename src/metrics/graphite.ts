// Graphite: the render API (format=json; null points are normal) for series, and the events API for
// deploy markers. Every call has a deadline; failures come back as MetricErrors.

import axios from "axios";
import { describeHttpError } from "./http-error.js";
import { z } from "zod";
import { MetricError, toValue, type Marker, type MarkerStore, type MetricSource, type Point, type RangeQuery } from "./source.js";

const RenderBody = z.array(z.object({ target: z.string(), datapoints: z.array(z.tuple([z.unknown(), z.number()])) }));
const EventsBody = z.array(z.object({ when: z.number(), what: z.string(), tags: z.union([z.array(z.string()), z.string()]).nullable(), data: z.unknown() }));

export interface NamedSeries {
  /** Graphite's name for it: the path, or the function applied (sumSeries(a.*.b)). */
  readonly name: string;
  readonly points: Point[];
}

export interface GraphiteOptions {
  readonly url: string;
  readonly timeoutMs: number;
}

const epochSec = (ms: number) => Math.floor(ms / 1000);

export class GraphiteSource implements MetricSource, MarkerStore {
  readonly kind = "graphite";
  private readonly base: string;

  constructor(private readonly o: GraphiteOptions) {
    this.base = o.url.replace(/\/+$/, "");
  }

  private fail(e: unknown): MetricError {
    // graphite-web answers errors as HTML or plain text; keep the first line only.
    return describeHttpError(this.kind, e, this.o.timeoutMs, (d) => (typeof d === "string" ? d.split("\n").find((l) => l.trim())?.trim().slice(0, 200) : undefined));
  }

  /** Every series the targets return, by name, within [from, to] (ms). */
  async render(targets: readonly string[], from: number, to: number, signal?: AbortSignal): Promise<NamedSeries[]> {
    let data: unknown;
    try {
      const res = await axios.get(`${this.base}/render`, {
        // Graphite's from is exclusive (the first point is the next interval after it): ask from a second earlier.
        params: { target: [...targets], from: epochSec(from) - 1, until: epochSec(to), format: "json" },
        // target=a&target=b, as graphite-web reads repeated targets (axios would write target[]=).
        paramsSerializer: { indexes: null },
        timeout: this.o.timeoutMs,
        ...(signal ? { signal } : {}),
        responseType: "json",
      });
      data = res.data;
    } catch (e) {
      throw this.fail(e);
    }
    const parsed = RenderBody.safeParse(data);
    if (!parsed.success) throw new MetricError("bad-response", this.kind, `the render API answered something that is not a list of series (${z.prettifyError(parsed.error).split("\n")[0]})`);
    return parsed.data.map((s) => ({ name: s.target, points: s.datapoints.map(([v, t]) => ({ t: t * 1000, v: toValue(v) })).filter((p) => p.t >= from && p.t <= to) }));
  }

  async range(q: RangeQuery): Promise<Point[]> {
    const all = await this.render([q.query], q.from, q.to, q.signal);
    if (all.length > 1) throw new MetricError("query", this.kind, `"${q.query}" returns ${all.length} series; wrap it in sumSeries() or averageSeries()`);
    return all[0]?.points ?? [];
  }

  async mark(m: Marker, signal?: AbortSignal): Promise<void> {
    try {
      await axios.post(`${this.base}/events/`, { what: m.what, tags: [...m.tags], when: epochSec(m.when), data: m.data }, { timeout: this.o.timeoutMs, ...(signal ? { signal } : {}) });
    } catch (e) {
      throw this.fail(e);
    }
  }

  async markers(from: number, to: number, tags: readonly string[], signal?: AbortSignal): Promise<Marker[]> {
    let data: unknown;
    try {
      const res = await axios.get(`${this.base}/events/get_data`, {
        params: { from: epochSec(from), until: epochSec(to), ...(tags.length ? { tags: tags.join(" ") } : {}) },
        timeout: this.o.timeoutMs,
        ...(signal ? { signal } : {}),
        responseType: "json",
      });
      data = res.data;
    } catch (e) {
      throw this.fail(e);
    }
    const parsed = EventsBody.safeParse(data);
    if (!parsed.success) throw new MetricError("bad-response", this.kind, "the events API answered something that is not a list of events");
    return parsed.data
      .map((e) => ({ what: e.what, tags: typeof e.tags === "string" ? e.tags.split(" ").filter(Boolean) : (e.tags ?? []), when: e.when * 1000, data: typeof e.data === "string" ? e.data : JSON.stringify(e.data ?? "") }))
      .filter((e) => tags.every((t) => e.tags.includes(t)))
      .sort((a, b) => a.when - b.when);
  }
}
