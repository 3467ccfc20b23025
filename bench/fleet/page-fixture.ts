// The fleet page's benchmark subject: the bot's web server with a board of 1,000 hosts in a fixed,
// realistic state (two releases, a few unreachable hosts, a deploy a third of the way through, some
// failures), no SSH (the census is scripted). Shared by bench/fleet-page.ts and the script that saved
// the previous implementation's page (bench/fleet/page-before.html).

import { pino } from "pino";
import { commands } from "../../commands/index.js";
import type { DeployEvent } from "../../src/fleet/events.js";
import { SalService } from "../../src/sal/service.js";
import { FleetBoard } from "../../src/web/fleet-board.js";
import type { GridApp } from "../../src/web/fleet-grid.js";
import { ReplyPages } from "../../src/web/reply-pages.js";
import { buildWebServer } from "../../src/web/server.js";
import { MemorySalStore } from "../../test/fakes/memory-sal-store.js";
import { testConfig } from "../../test/support/fake-services.js";

export const HOSTS = 1000;
const OLD = "1f3a9c0d2b4e6f8a0c1e3f5a7b9d1e3f5a7c9e1b";
const NEW = "8c2e4a6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a8c";
const name = (i: number) => `big${String(i + 1).padStart(4, "0")}`;

export const bigApp: GridApp = {
  name: "big", canaries: ["big0001", "big0002"], targets: ["big-eqiad", "big-codfw", "big-esams"], restart: true, smoke: false,
  hosts: Array.from({ length: HOSTS }, (_, i) => ({ name: name(i), groups: [i < 20 ? "big-eqiad" : i < 600 ? "big-codfw" : "big-esams"] })),
};

/** The deploy's events up to the moment measured: canaries and two batches done, one running. */
function deployEvents(): DeployEvent[] {
  const id = 42;
  const events: DeployEvent[] = [{ type: "started", deployId: id, app: "big", kind: "deploy", from: OLD, to: NEW, hosts: HOSTS }];
  const stages = [["canaries", 0, 2], ["batch 1", 2, 150], ["batch 2", 150, 300], ["batch 3", 300, 450]] as const;
  for (const [stage, from, to] of stages) {
    const hosts = Array.from({ length: to - from }, (_, k) => name(from + k));
    events.push({ type: "stage-started", deployId: id, stage, hosts });
    const running = stage === "batch 3";
    hosts.forEach((h, k) => {
      if (running && k % 3 === 0) return; // still preparing
      events.push({ type: "host-step", deployId: id, host: h, step: "prepare", ok: true, ms: 800 + k });
      if (running && k % 3 === 1) return; // switching
      events.push({ type: "host-step", deployId: id, host: h, step: "promote", ok: true, ms: 12 });
      const fails = (from + k) % 53 === 7;
      events.push({ type: "host-step", deployId: id, host: h, step: "restart", ok: !fails, ms: 400 });
      events.push(fails
        ? { type: "host-done", deployId: id, host: h, ok: false, ms: 1300, problem: { host: h, kind: "failed", step: "restart", message: "restart failed with exit code 3: listen tcp :8080: bind: address already in use", exitCode: 3, stderrTail: "starting\nlisten tcp :8080: bind: address already in use" } }
        : { type: "host-done", deployId: id, host: h, ok: true, ms: 1212 });
    });
    if (!running) events.push({ type: "stage-done", deployId: id, stage, ok: hosts.length, failed: 0, halted: false });
  }
  return events;
}

export interface PageServer {
  readonly url: string;
  readonly board: FleetBoard;
  close(): Promise<void>;
}

/** The web server on a loopback port; `extra` adds routes (the baselines) before it listens. */
export async function startPageServer(extra?: (web: ReturnType<typeof buildWebServer>, board: FleetBoard) => void): Promise<PageServer> {
  const now = Date.parse("2026-11-26T18:00:00Z");
  const board = new FleetBoard({
    apps: [bigApp],
    census: async () => bigApp.hosts.map((h, i) => ({
      host: h.name,
      state: i % 97 === 13 ? null : { current: OLD, previous: null, releases: [], haves: [] },
      problem: i % 97 === 13 ? { host: h.name, kind: "timeout" as const, step: "connect", message: "no SSH handshake within 3000 ms" } : null,
    })),
    shipped: () => new Map([[OLD, "2026-11-20T10:00:00Z"], [NEW, "2026-11-26T17:58:00Z"]]),
    log: pino({ level: "silent" }),
    now: () => now,
    censusMaxAgeMs: Number.MAX_SAFE_INTEGER,
  });
  await board.refresh("big");
  for (const e of deployEvents()) board.onEvent(e);
  const config = testConfig({});
  const web = buildWebServer({
    config, baseUrl: "http://127.0.0.1", sal: new SalService(new MemorySalStore(), config.sal), apiTokens: [], commands, replies: new ReplyPages("http://127.0.0.1"),
    log: pino({ level: "silent" }), metrics: () => "", health: () => ({ irc: { connected: true, nick: "tugboat", queueDepth: 0 } }), defaultChannel: null, fleetBoard: board,
  });
  extra?.(web, board);
  await web.listen({ host: "127.0.0.1", port: 0 });
  const { port } = web.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    board,
    async close() {
      await web.close();
      await board.close();
    },
  };
}
