// Prometheus: the HTTP query API (query_range). Values arrive as strings and may be "NaN"; those
// become null points. Every call has a deadline; failures come back as MetricErrors.

import axios from "axios";
import { describeHttpError } from "./http-error.js";
import { z } from "zod";
import { MetricError, toValue, type MetricSource, type Point, type RangeQuery } from "./source.js";

const Answer = z.object({
  status: z.enum(["success", "error"]),
  error: z.string().optional(),
  data: z.object({ resultType: z.string(), result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(z.tuple([z.number(), z.string()])) })) }).optional(),
});

/** Prometheus refuses a query_range of more than 11,000 points per series. */
export const MAX_POINTS = 11_000;

export interface PrometheusOptions {
  readonly url: string;
  readonly timeoutMs: number;
}

export class PrometheusSource implements MetricSource {
  readonly kind = "prometheus";
  private readonly base: string;

  constructor(private readonly o: PrometheusOptions) {
    this.base = o.url.replace(/\/+$/, "");
  }

  async range(q: RangeQuery): Promise<Point[]> {
    const step = Math.max(q.stepSec, Math.ceil((q.to - q.from) / 1000 / (MAX_POINTS - 1)));
    let data: unknown;
    try {
      const res = await axios.get(`${this.base}/api/v1/query_range`, {
        params: { query: q.query, start: q.from / 1000, end: q.to / 1000, step, timeout: `${Math.max(1, Math.floor(this.o.timeoutMs / 1000))}s` },
        timeout: this.o.timeoutMs,
        ...(q.signal ? { signal: q.signal } : {}),
        responseType: "json",
      });
      data = res.data;
    } catch (e) {
      throw describeHttpError(this.kind, e, this.o.timeoutMs, (d) => {
        const r = Answer.safeParse(d);
        return r.success ? r.data.error : undefined;
      });
    }
    const parsed = Answer.safeParse(data);
    if (!parsed.success || !parsed.data.data) throw new MetricError("bad-response", this.kind, "the query API answered something that is not a query result");
    if (parsed.data.status !== "success") throw new MetricError("query", this.kind, parsed.data.error ?? "the query failed");
    const { resultType, result } = parsed.data.data;
    if (resultType !== "matrix") throw new MetricError("query", this.kind, `expected a range vector (matrix), got ${resultType}`);
    if (result.length > 1) throw new MetricError("query", this.kind, `"${q.query}" returns ${result.length} series; aggregate it, e.g. sum(...)`);
    const series = result[0];
    if (!series) return [];
    return series.values.map(([t, v]) => ({ t: Math.round(t * 1000), v: toValue(v) }));
  }
}
