// fleet-page: /fleet with 1,000 hosts in real Chromium (Debian's headless build via playwright-core),
// from the navigation to the frame after the grid painted. Baselines in the same run, interleaved: the
// previous implementation's page (saved as bench/fleet/page-before.html, served by the same server and
// following the same stream), a plain static HTML table of the same 1,000 hosts (what a user would
// otherwise have), and an empty page (Chromium's own navigation cost). Then traced loads per arm
// (where the renderer's main thread spends its CPU), and synthetic streams applied to the live grid.

import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { chromium, type Browser, type Page } from "playwright-core";
import { cpuShareMeter, describeCpuShare, describeEnvironment, probeEnvironment, waitForQuiet } from "./lib/environment.js";
import { describeMachine } from "./lib/machine.js";
import { ms, printTable, summarize, writeResults } from "./lib/stats.js";
import { bigApp, HOSTS, startPageServer } from "./fleet/page-fixture.js";

const ROUNDS = Number(process.env.BENCH_FLEET_PAGE_ROUNDS ?? 9);
const TRACED = 3;
const ARMS = ["empty", "table", "before", "now"] as const;
type Arm = (typeof ARMS)[number];
const LABEL: Record<Arm, string> = {
  empty: "empty page (404, site layout)",
  table: "plain static <table>, 1,000 rows",
  before: "previous /fleet (page-before.html)",
  now: "/fleet now",
};

interface Load {
  /** Navigation start to the second animation frame after load (the grid painted). */
  readonly renderedMs: number;
  readonly firstContentfulPaintMs: number;
  readonly responseEndMs: number;
  readonly domContentLoadedMs: number;
  readonly loadMs: number;
  readonly bytes: number;
  /** On the wire (gzip when the server compresses). */
  readonly transferBytes: number;
}

/** A plain table of the hosts: host, group, release, state, no script, no style beyond the layout's. */
function tableHtml(board: Awaited<ReturnType<typeof startPageServer>>["board"]): string {
  const rows = [...board.grid.cells.values()].map((c) => `<tr><td>${c.host}</td><td>${c.release?.slice(0, 7) ?? "?"}</td><td>${c.state}</td></tr>`).join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fleet (table)</title></head><body><h1>Fleet</h1><table><thead><tr><th>host</th><th>release</th><th>state</th></tr></thead><tbody>${rows}</tbody></table></body></html>`;
}

async function load(page: Page, url: string): Promise<Load> {
  await page.goto(url, { waitUntil: "load" });
  // The second animation frame after load: the first one (the grid's) has been painted by then.
  const rendered = await page.evaluate(() => new Promise<number>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now())))));
  // Paint timing entries are reported a moment after the frame they time.
  await page.waitForFunction(() => performance.getEntriesByName("first-contentful-paint").length > 0, undefined, { timeout: 2000 }).catch(() => undefined);
  return page.evaluate((renderedMs) => {
    const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
    const fcp = performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? Number.NaN;
    return { renderedMs, firstContentfulPaintMs: fcp, responseEndMs: nav.responseEnd, domContentLoadedMs: nav.domContentLoadedEventEnd, loadMs: nav.loadEventEnd, bytes: nav.decodedBodySize, transferBytes: nav.encodedBodySize };
  }, rendered);
}

/**
 * Renderer main-thread CPU time (the trace's thread durations, so a neighbour's load does not count)
 * by kind of work during one load, from a Chromium trace (ms).
 */
async function traceLoad(browser: Browser, page: Page, url: string): Promise<Record<string, number>> {
  await browser.startTracing(page, { categories: ["devtools.timeline", "v8.execute", "blink", "toplevel"] });
  await load(page, url);
  const trace = JSON.parse((await browser.stopTracing()).toString("utf8")) as { traceEvents: Array<{ name: string; ph: string; dur?: number; tdur?: number; pid: number; tid: number; args?: { name?: string } }> };
  const main = trace.traceEvents.find((e) => e.name === "thread_name" && e.args?.name === "CrRendererMain" && trace.traceEvents.some((x) => x.pid === e.pid && x.tid === e.tid && x.name === "ParseHTML"));
  const kinds: Record<string, string> = {
    ParseHTML: "parse HTML", EvaluateScript: "script", "v8.compile": "script", FunctionCall: "script", TimerFire: "script", FireAnimationFrame: "script",
    UpdateLayoutTree: "style", Layout: "layout", PrePaint: "paint", Paint: "paint", Layerize: "paint",
  };
  const out: Record<string, number> = {};
  // Only top-level events of each kind: a Layout inside a script counts once, as layout.
  const events = trace.traceEvents.filter((e) => main && e.pid === main.pid && e.tid === main.tid && e.ph === "X" && e.dur !== undefined && kinds[e.name]);
  const sorted = events.map((e) => ({ ...e, ts: (e as unknown as { ts: number }).ts })).sort((a, b) => a.ts - b.ts);
  const open: Array<{ end: number; kind: string }> = [];
  for (const e of sorted) {
    while (open.length && open.at(-1)!.end <= e.ts) open.pop();
    const kind = kinds[e.name]!;
    const parent = open.at(-1);
    const cpu = (e.tdur ?? e.dur!) / 1000;
    out[kind] = (out[kind] ?? 0) + cpu;
    if (parent && parent.kind !== kind) out[parent.kind] = (out[parent.kind] ?? 0) - cpu;
    open.push({ end: e.ts + e.dur!, kind });
  }
  // Every task's CPU by thread (the "toplevel" RunTask events): the page costs more than the
  // renderer's main thread.
  const names = new Map<string, string>();
  const processes = new Map<number, string>();
  for (const e of trace.traceEvents) {
    if (e.name === "thread_name") names.set(`${e.pid}:${e.tid}`, e.args?.name ?? "");
    if (e.name === "process_name") processes.set(e.pid, e.args?.name ?? "");
  }
  const thread = (e: { pid: number; tid: number }): string | null => {
    const n = names.get(`${e.pid}:${e.tid}`) ?? "";
    if (main && e.pid === main.pid) return n === "CrRendererMain" ? "cpu: renderer main" : /ThreadPoolForegroundWorker|CompositorTileWorker/.test(n) ? "cpu: renderer workers (raster)" : n === "Compositor" ? "cpu: renderer compositor" : null;
    const p = processes.get(e.pid) ?? "";
    return p === "Browser" ? "cpu: browser process" : p === "GPU Process" ? "cpu: GPU process (viz)" : null;
  };
  for (const e of trace.traceEvents) {
    if (e.ph !== "X" || !/RunTask/.test(e.name) || e.tdur === undefined) continue;
    const k = thread(e);
    if (k) out[k] = (out[k] ?? 0) + e.tdur / 1000;
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

/** 40 messages 50 ms apart, every 4th recolouring all 1,000 cells (a legend change): time per applied patch and frames meanwhile. */
async function stream(page: Page): Promise<{ fullPatchMs: number; tenthPatchMs: number; p50FrameMs: number; maxFrameMs: number }> {
  return page.evaluate(async () => {
    const api = (window as unknown as { tugboatGrid: { apply(p: unknown): void } }).tugboatGrid;
    const states = ["preparing", "switching", "restarting", "checking", "done", "failed"];
    const letters = ["P", "S", "R", "C", "✓", "F"];
    const keys = [...document.querySelectorAll<HTMLElement>("[data-k]")].map((el) => el.dataset.k!);
    const frames: number[] = [];
    let last = performance.now();
    let running = true;
    const tick = (t: number) => { frames.push(t - last); last = t; if (running) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
    const full: number[] = [];
    const tenth: number[] = [];
    for (let m = 0; m < 40; m++) {
      const all = m % 4 === 0;
      const cells = (all ? keys : keys.filter((_, i) => (i + m) % 10 === 0)).map((k, i) => { const s = (i + m) % states.length; return { k, s: states[s], c: (i + m) % 3, l: letters[s], t: `${k}: ${states[s]}`, a: `${k}: ${states[s]}` }; });
      const t0 = performance.now();
      api.apply({ cells, html: {} });
      document.body.getBoundingClientRect();
      (all ? full : tenth).push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 50));
    }
    running = false;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const f = frames.slice(1);
    return { fullPatchMs: median(full), tenthPatchMs: median(tenth), p50FrameMs: median(f), maxFrameMs: Math.max(...f) };
  });
}

export async function run(): Promise<void> {
  const machine = describeMachine();
  const started = Date.now();
  const quiet = await waitForQuiet();
  const envBefore = await probeEnvironment();
  console.log(describeEnvironment("machine before", envBefore));
  const before = readFileSync(new URL("fleet/page-before.html", import.meta.url), "utf8");
  const server = await startPageServer((web, board) => {
    // The saved page follows this board's stream from now, as the page of its day did.
    web.get("/baseline/before", async (_req, reply) => reply.type("text/html; charset=utf-8").send(before.replace(/since=[0-9a-f]{8}\.\d+/g, `since=${board.id()}`).replace(/data-seq="[^"]*"/, `data-seq="${board.id()}"`)));
    web.get("/baseline/table", async (_req, reply) => reply.type("text/html; charset=utf-8").send(tableHtml(board)));
  });
  const urls: Record<Arm, string> = { empty: `${server.url}/nothing-here`, table: `${server.url}/baseline/table`, before: `${server.url}/baseline/before`, now: `${server.url}/fleet?app=big` };
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  const loads: Record<Arm, Load[]> = { empty: [], table: [], before: [], now: [] };
  const traces: Partial<Record<Arm, Record<string, number>>> = {};
  const streams: Partial<Record<"before" | "now", Awaited<ReturnType<typeof stream>>>> = {};
  let cpu;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // tsx (esbuild keepNames) wraps named functions in the evaluated code with __name.
    await context.addInitScript("window.__name = (f) => f");
    const page = await context.newPage();
    for (const arm of ARMS) for (let i = 0; i < 2; i++) await load(page, urls[arm]); // warm-up
    const cells = await page.goto(urls.now).then(() => page.locator("[data-k]").count());
    if (cells !== HOSTS) throw new Error(`/fleet shows ${cells} cells, expected ${HOSTS}`);
    const meter = cpuShareMeter();
    for (let r = 0; r < ROUNDS; r++) {
      // Rotated order each round, so no arm always follows the same one.
      for (let k = 0; k < ARMS.length; k++) {
        const arm = ARMS[(k + r) % ARMS.length]!;
        loads[arm].push(await load(page, urls[arm]));
      }
    }
    cpu = meter();
    // Three traced loads per arm, interleaved; the median of each kind of work.
    const traced: Record<Arm, Array<Record<string, number>>> = { empty: [], table: [], before: [], now: [] };
    for (let r = 0; r < TRACED; r++) for (const arm of ARMS) traced[arm].push(await traceLoad(browser, page, urls[arm]));
    for (const arm of ARMS) {
      const kinds = [...new Set(traced[arm].flatMap((t) => Object.keys(t)))];
      traces[arm] = Object.fromEntries(kinds.map((k) => [k, summarize(traced[arm].map((t) => t[k] ?? 0)).p50]));
      traces[arm]!.total = Math.round(Object.entries(traces[arm]!).filter(([k]) => !k.startsWith("cpu:")).reduce((a, [, v]) => a + v, 0) * 10) / 10;
      traces[arm]!["cpu: all"] = Math.round(Object.entries(traces[arm]!).filter(([k]) => k.startsWith("cpu:")).reduce((a, [, v]) => a + v, 0) * 10) / 10;
    }
    for (const arm of ["before", "now"] as const) {
      await load(page, urls[arm]);
      streams[arm] = await stream(page);
    }
  } finally {
    await browser.close();
    await server.close();
  }
  const envAfter = await probeEnvironment();
  console.log(describeEnvironment("machine after", envAfter));
  console.log(describeCpuShare(cpu));
  const med = (arm: Arm, k: keyof Load) => summarize(loads[arm].map((l) => l[k])).p50;
  printTable(
    `fleet-page: ${bigApp.hosts.length} hosts, ${ROUNDS} loads per arm interleaved (medians, ms from navigation start; load average ${loadavg()[0]!.toFixed(1)})`,
    ["page", "KiB", "on the wire", "response end", "first contentful paint", "DOMContentLoaded", "load", "painted (2nd frame after load)", "range (painted)"],
    ARMS.map((arm) => {
      const s = summarize(loads[arm].map((l) => l.renderedMs));
      return [LABEL[arm], (med(arm, "bytes") / 1024).toFixed(0), (med(arm, "transferBytes") / 1024).toFixed(0), ms(med(arm, "responseEndMs"), 1), ms(med(arm, "firstContentfulPaintMs"), 1), ms(med(arm, "domContentLoadedMs"), 1), ms(med(arm, "loadMs"), 1), ms(s.p50, 1), `${ms(Math.min(...loads[arm].map((l) => l.renderedMs)), 0)}-${ms(s.max, 0)}`];
    }),
  );
  const all = [...new Set(Object.values(traces).flatMap((t) => Object.keys(t)))].sort();
  const kinds = all.filter((k) => !k.startsWith("cpu:"));
  const threads = all.filter((k) => k.startsWith("cpu:"));
  printTable(`renderer main thread CPU during a load, by kind of work (ms, top-level events, median of ${TRACED} traced loads)`, ["page", ...kinds], ARMS.map((arm) => [LABEL[arm], ...kinds.map((k) => ms(traces[arm]?.[k] ?? 0, 1))]));
  printTable(`Chromium's CPU during a load, by thread (ms, every task, median of ${TRACED} traced loads)`, ["page", ...threads.map((k) => k.slice(5))], ARMS.map((arm) => [LABEL[arm], ...threads.map((k) => ms(traces[arm]?.[k] ?? 0, 0))]));
  printTable("a synthetic stream applied to the grid (40 messages 50 ms apart; medians)", ["page", "all 1,000 cells (ms)", "a tenth (ms)", "frame p50", "frame max"], (["before", "now"] as const).map((arm) => {
    const s = streams[arm]!;
    return [LABEL[arm], ms(s.fullPatchMs, 1), ms(s.tenthPatchMs, 1), ms(s.p50FrameMs, 1), ms(s.maxFrameMs, 1)];
  }));
  const file = writeResults("fleet-page", {
    benchmark: "fleet-page",
    date: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    machine,
    settings: { hosts: HOSTS, rounds: ROUNDS, viewport: "1280x900", chromium: "/usr/bin/chromium headless" },
    unit: "ms",
    environment: { quietWait: quiet, before: envBefore, after: envAfter, duringTimedPart: cpu },
    loads: Object.fromEntries(ARMS.map((arm) => [arm, { label: LABEL[arm], medians: Object.fromEntries((Object.keys(loads[arm][0]!) as Array<keyof Load>).map((k) => [k, med(arm, k)])), painted: summarize(loads[arm].map((l) => l.renderedMs)), all: loads[arm] }])),
    traces,
    streams,
  });
  console.log(`figures written to ${file}`);
}
