// Smoke checks after a host switched: HTTP requests from the deploy host, each with a deadline,
// expecting a status and optionally a text (such as the deployed SHA) in the body.

import axios from "axios";
import type { AppConfig } from "../config/schema.js";
import type { Host } from "./remote-shell.js";

export interface SmokeChecker {
  /** null when every check passed; otherwise what failed, in words. */
  check(host: Host, sha: string, checks: AppConfig["smoke"], signal?: AbortSignal): Promise<string | null>;
}

export function fillTemplate(template: string, host: Host, sha: string): string {
  return template.replaceAll("{host}", host.name).replaceAll("{address}", host.address).replaceAll("{sha}", sha);
}

export class HttpSmokeChecker implements SmokeChecker {
  async check(host: Host, sha: string, checks: AppConfig["smoke"], signal?: AbortSignal): Promise<string | null> {
    for (const c of checks) {
      const url = fillTemplate(c.url, host, sha);
      try {
        const res = await axios.get<string>(url, { timeout: c.timeoutMs, responseType: "text", validateStatus: () => true, maxRedirects: 0, ...(signal ? { signal } : {}), transitional: { silentJSONParsing: true, forcedJSONParsing: false, clarifyTimeoutError: true } });
        if (res.status !== c.status) return `${url} answered ${res.status}, expected ${c.status}`;
        const want = c.contains ? fillTemplate(c.contains, host, sha) : null;
        if (want && !String(res.data).includes(want)) return `${url} does not contain "${want}"`;
      } catch (e) {
        const err = e as { code?: string; message: string };
        const why = err.code === "ECONNREFUSED" ? "connection refused" : err.code === "ETIMEDOUT" || err.code === "ECONNABORTED" ? `no answer within ${c.timeoutMs} ms` : (err.code ?? err.message);
        return `${url}: ${why}`;
      }
    }
    return null;
  }
}
