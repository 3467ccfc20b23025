// Alertmanager's v2 API for silences (axios, with a deadline on every call). Failures are reported as
// what they are: refused, timed out, unreachable, or the HTTP status with Alertmanager's own words.

import axios, { type AxiosInstance } from "axios";
import { RemoteError } from "../errors.js";

export interface Matcher {
  readonly name: string;
  readonly value: string;
  readonly isRegex: boolean;
  readonly isEqual: boolean;
}

export interface NewSilence {
  readonly matchers: readonly Matcher[];
  readonly startsAt: string;
  readonly endsAt: string;
  readonly createdBy: string;
  readonly comment: string;
}

/** What the bot needs from Alertmanager. */
export interface SilenceApi {
  create(s: NewSilence, signal?: AbortSignal): Promise<string>;
  expire(id: string, signal?: AbortSignal): Promise<void>;
}

export class AlertmanagerApi implements SilenceApi {
  private readonly http: AxiosInstance;

  constructor(private readonly url: string, private readonly timeoutMs: number, bearer: string | null) {
    this.http = axios.create({
      baseURL: url.replace(/\/+$/, ""), timeout: timeoutMs, validateStatus: () => true, maxRedirects: 0,
      headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
    });
  }

  private failure(e: unknown): RemoteError {
    const code = (e as { code?: string }).code;
    const why = code === "ECONNREFUSED" ? "connection refused"
      : code === "ECONNABORTED" || code === "ETIMEDOUT" || axios.isCancel(e) ? `timed out after ${this.timeoutMs} ms`
      : code === "ENOTFOUND" || code === "EHOSTUNREACH" || code === "ENETUNREACH" ? `unreachable (${code})`
      : (e as Error).message;
    return new RemoteError(`Alertmanager at ${this.url}`, why, { cause: e });
  }

  private static said(data: unknown): string {
    const text = typeof data === "string" ? data : JSON.stringify(data);
    return text.replace(/\s+/g, " ").trim().slice(0, 200);
  }

  async create(s: NewSilence, signal?: AbortSignal): Promise<string> {
    let res;
    try {
      res = await this.http.post("/api/v2/silences", s, signal ? { signal } : {});
    } catch (e) {
      throw this.failure(e);
    }
    if (res.status !== 200) throw new RemoteError(`Alertmanager at ${this.url}`, `HTTP ${res.status}: ${AlertmanagerApi.said(res.data)}`);
    const id = (res.data as { silenceID?: unknown }).silenceID;
    if (typeof id !== "string" || id === "") throw new RemoteError(`Alertmanager at ${this.url}`, "answered without a silence ID");
    return id;
  }

  async expire(id: string, signal?: AbortSignal): Promise<void> {
    let res;
    try {
      res = await this.http.delete(`/api/v2/silence/${encodeURIComponent(id)}`, signal ? { signal } : {});
    } catch (e) {
      throw this.failure(e);
    }
    if (res.status === 404) throw new RemoteError(`Alertmanager at ${this.url}`, `no silence ${id}`);
    if (res.status !== 200) throw new RemoteError(`Alertmanager at ${this.url}`, `HTTP ${res.status}: ${AlertmanagerApi.said(res.data)}`);
  }
}
