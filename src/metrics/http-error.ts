// The adapters' shared translation of an axios failure into a MetricError that names it: refused,
// timed out, unreachable, or the HTTP status with the backend's own message.

import { AxiosError } from "axios";
import { MetricError } from "./source.js";

/** Names an axios failure for what it is: refused, timed out, unreachable, or the HTTP status and body. */
export function describeHttpError(source: string, e: unknown, timeoutMs: number, bodyError?: (data: unknown) => string | undefined): MetricError {
  if (e instanceof MetricError) return e;
  if (e instanceof AxiosError) {
    if (e.response) {
      const detail = bodyError?.(e.response.data) ?? (typeof e.response.data === "string" ? e.response.data.slice(0, 200).trim() : "");
      return new MetricError("http", source, `HTTP ${e.response.status}${detail ? `: ${detail}` : ""}`, { cause: e, status: e.response.status });
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
