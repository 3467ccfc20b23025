// The MetricSource port: one time series for a query over a time range, and deploy markers.
// Adapters (graphite.ts, prometheus.ts) turn every failure into a MetricError that says what it is.

import { AxiosError } from "axios";

/** One sample: time in ms since the epoch; null where the backend has no value (or "NaN"). */
export interface Point {
  readonly t: number;
  readonly v: number | null;
}

export interface RangeQuery {
  readonly query: string;
  /** Inclusive bounds, ms since the epoch. */
  readonly from: number;
  readonly to: number;
  readonly stepSec: number;
  readonly signal?: AbortSignal;
}

/** A deploy marker: a Graphite event (what, tags, when, data). */
export interface Marker {
  readonly what: string;
  readonly tags: readonly string[];
  /** ms since the epoch. */
  readonly when: number;
  readonly data: string;
}

export interface MetricSource {
  /** "graphite", "prometheus", or a fake's name: used in messages. */
  readonly kind: string;
  /** One series; [] when the query matches nothing. More than one series is a MetricError. */
  range(q: RangeQuery): Promise<Point[]>;
}

/** Sources that keep deploy markers (Graphite events). */
export interface MarkerStore {
  mark(m: Marker, signal?: AbortSignal): Promise<void>;
  /** Markers with all these tags between from and to (ms). */
  markers(from: number, to: number, tags: readonly string[], signal?: AbortSignal): Promise<Marker[]>;
}

export type MetricErrorKind = "refused" | "timeout" | "unreachable" | "http" | "bad-response" | "query";

export class MetricError extends Error {
  override readonly name = "MetricError";
  constructor(
    readonly kind: MetricErrorKind,
    readonly source: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${message}`, options);
  }
}

/** Names an axios failure for what it is: refused, timed out, unreachable, or the HTTP status and body. */
export function describeHttpError(source: string, e: unknown, timeoutMs: number, bodyError?: (data: unknown) => string | undefined): MetricError {
  if (e instanceof MetricError) return e;
  if (e instanceof AxiosError) {
    if (e.response) {
      const detail = bodyError?.(e.response.data) ?? (typeof e.response.data === "string" ? e.response.data.slice(0, 200).trim() : "");
      return new MetricError("http", source, `HTTP ${e.response.status}${detail ? `: ${detail}` : ""}`, { cause: e });
    }
    if (e.code === "ECONNREFUSED") return new MetricError("refused", source, "connection refused", { cause: e });
    if (e.code === "ECONNABORTED" || e.code === "ETIMEDOUT") return new MetricError("timeout", source, `no answer within ${timeoutMs} ms`, { cause: e });
    if (e.code === "ERR_CANCELED") return new MetricError("timeout", source, "cancelled", { cause: e });
    if (e.code === "ENOTFOUND" || e.code === "EAI_AGAIN" || e.code === "EHOSTUNREACH" || e.code === "ENETUNREACH" || e.code === "ECONNRESET") {
      return new MetricError("unreachable", source, `unreachable (${e.code})`, { cause: e });
    }
    return new MetricError("unreachable", source, `${e.code ?? "network error"}: ${e.message}`, { cause: e });
  }
  return new MetricError("bad-response", source, (e as Error).message, { cause: e });
}

/** A number from a backend value: null for null, "NaN", +-Inf or anything that is not a number. */
export function toValue(raw: unknown): number | null {
  if (raw === null || raw === undefined) return null;
  const n = typeof raw === "number" ? raw : typeof raw === "string" ? Number(raw) : NaN;
  return Number.isFinite(n) ? n : null;
}
