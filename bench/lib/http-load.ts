// A closed-loop HTTP load generator: C workers on one keep-alive node:http Agent, each sending its
// next request as soon as the previous answer arrived, until N requests in total or the deadline.

import { Agent, request } from "node:http";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";

export interface LoadOptions {
  readonly url: string;
  readonly path: string;
  readonly concurrency: number;
  readonly total: number;
  readonly maxMs: number;
  /** Request number -> JSON body and extra headers. */
  readonly build: (i: number) => { body: unknown; headers?: Record<string, string> };
  /** Status a request must answer to count as a success. */
  readonly expectStatus: number;
  /** Per-request deadline. */
  readonly timeoutMs?: number;
}

export interface LoadResult {
  readonly samples: number[];
  readonly ok: number;
  readonly failed: number;
  readonly firstFailure: string | null;
  readonly wallMs: number;
  readonly stoppedBy: "count" | "time";
  /** TCP connections the agent opened (keep-alive works when this equals the concurrency). */
  readonly sockets: number;
}

function post(agent: Agent, url: URL, body: string, headers: Record<string, string>, timeoutMs: number, sockets: Set<Socket>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.once("socket", (s: Socket) => sockets.add(s));
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const sockets = new Set<Socket>();
  const url = new URL(o.path, o.url);
  const samples: number[] = [];
  let next = 0;
  let ok = 0;
  let failed = 0;
  let firstFailure: string | null = null;
  let stoppedBy: "count" | "time" = "count";
  const start = performance.now();
  const deadline = start + o.maxMs;
  const worker = async () => {
    for (;;) {
      if (next >= o.total) return;
      if (performance.now() > deadline) {
        stoppedBy = "time";
        return;
      }
      const i = next++;
      const { body, headers } = o.build(i);
      const t0 = performance.now();
      try {
        const res = await post(agent, url, JSON.stringify(body), headers ?? {}, o.timeoutMs ?? 10_000, sockets);
        samples.push(performance.now() - t0);
        if (res.status === o.expectStatus) ok++;
        else {
          failed++;
          firstFailure ??= `HTTP ${res.status}: ${res.text.slice(0, 200)}`;
        }
      } catch (err) {
        failed++;
        firstFailure ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const wallMs = performance.now() - start;
  agent.destroy();
  return { samples, ok, failed, firstFailure, wallMs, stoppedBy, sockets: sockets.size };
}
