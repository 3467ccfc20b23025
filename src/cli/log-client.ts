// `tugboat log MESSAGE`: POST /api/log with a deadline per try and retries with backoff.
// One idempotency key for all tries, so a retry after a lost response never writes twice.

import axios, { AxiosError } from "axios";
import { LogFailed } from "../errors.js";

export { LogFailed };

export interface PostLogOptions {
  readonly url: string;
  readonly token: string;
  readonly body: Record<string, unknown>;
  readonly tries?: number;
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
  readonly sleep?: (ms: number) => Promise<void>;
}


function describe(e: unknown): { message: string; retry: boolean } {
  if (e instanceof AxiosError) {
    if (e.response) {
      const data = e.response.data as { error?: string } | undefined;
      const status = e.response.status;
      return { message: `the server answered ${status}: ${data?.error ?? e.response.statusText}`, retry: status >= 500 || status === 429 };
    }
    if (e.code === "ECONNREFUSED") return { message: `connection refused (is tugboat running at that address?)`, retry: true };
    if (e.code === "ECONNABORTED" || e.code === "ETIMEDOUT") return { message: "timed out", retry: true };
    if (e.code === "ENOTFOUND" || e.code === "EAI_AGAIN") return { message: `host not found (${e.code})`, retry: e.code === "EAI_AGAIN" };
    return { message: `${e.code ?? "network error"}: ${e.message}`, retry: true };
  }
  return { message: (e as Error).message, retry: false };
}

export async function postLogEntry(o: PostLogOptions): Promise<{ url: string; created: boolean }> {
  const tries = o.tries ?? 5;
  const sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  const endpoint = `${o.url.replace(/\/+$/, "")}/api/log`;
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await axios.post<{ url: string; created: boolean }>(endpoint, o.body, {
        headers: { authorization: `Bearer ${o.token}`, "content-type": "application/json" },
        timeout: o.timeoutMs ?? 10_000,
      });
      return res.data;
    } catch (e) {
      const { message, retry } = describe(e);
      if (!retry || attempt >= tries) throw new LogFailed(`could not log to ${endpoint} after ${attempt} ${attempt === 1 ? "try" : "tries"}: ${message}`);
      const delay = Math.min(8000, 250 * 2 ** attempt);
      o.log?.(`tugboat log: ${message}; retrying in ${delay} ms (try ${attempt + 1}/${tries})`);
      await sleep(delay);
    }
  }
}
