// Grafana annotations for deploy markers: POST /api/annotations with the API token, under a deadline.

import axios from "axios";
import { describeHttpError } from "./http-error.js";
import { type Marker } from "./source.js";

export interface Annotator {
  readonly kind: string;
  mark(m: Marker, signal?: AbortSignal): Promise<void>;
}

export class GrafanaAnnotator implements Annotator {
  readonly kind = "grafana";
  constructor(private readonly o: { url: string; token: string; timeoutMs: number }) {}

  async mark(m: Marker, signal?: AbortSignal): Promise<void> {
    try {
      await axios.post(
        `${this.o.url.replace(/\/+$/, "")}/api/annotations`,
        { time: m.when, tags: [...m.tags], text: `${m.what}: ${m.data}` },
        { timeout: this.o.timeoutMs, headers: { authorization: `Bearer ${this.o.token}` }, ...(signal ? { signal } : {}) },
      );
    } catch (e) {
      throw describeHttpError(this.kind, e, this.o.timeoutMs, (d) => (d && typeof d === "object" && "message" in d ? String((d as { message: unknown }).message) : undefined));
    }
  }
}
