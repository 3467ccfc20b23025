// The MetricSource port: one time series for a query over a time range, and deploy markers.
// Adapters (graphite.ts, prometheus.ts) turn every failure into a MetricError that says what it is
// (http-error.ts); this file imports no I/O library.

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
    options?: { cause?: unknown; status?: number },
  ) {
    super(`${source}: ${message}`, options);
    this.status = options?.status ?? null;
  }

  /** The HTTP status when the backend answered with an error. */
  readonly status: number | null;
}

/** A number from a backend value: null for null, "NaN", +-Inf or anything that is not a number. */
export function toValue(raw: unknown): number | null {
  if (raw === null || raw === undefined) return null;
  const n = typeof raw === "number" ? raw : typeof raw === "string" ? Number(raw) : NaN;
  return Number.isFinite(n) ? n : null;
}
