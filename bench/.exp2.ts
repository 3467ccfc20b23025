import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import { startPageServer } from "./fleet/page-fixture.js";
let now = "";
const before = readFileSync(new URL("fleet/page-before.html", import.meta.url), "utf8");
const addCss = (css: string) => (h: string) => h.replace("</head>", `<style>${css}</style></head>`);
const variants: Record<string, (h: string) => string> = {
  before: () => before,
  now: (h) => h,
  containSL: addCss(".c{contain:size layout style}"),
  noRadius: addCss(".c{border-radius:0}"),
  gridDisplay: addCss(".grid>.row{display:grid;grid-template-columns:repeat(auto-fill,1.35rem)}"),
  shadow: addCss(".c.s-preparing,.c.s-switching,.c.s-restarting,.c.s-checking{outline:none;box-shadow:inset 0 0 0 2px var(--fg)}.c.s-failed,.c.s-timeout,.c.s-unreachable{outline:none;box-shadow:inset 0 0 0 3px var(--fg)}"),
  ascii: (h) => h.replace(/>✓</g, ">D<").replace(/>·</g, ">-<"),
};
const s = await startPageServer((web) => { web.get("/v/:name", async (req: any, reply: any) => reply.type("text/html; charset=utf-8").send(variants[req.params.name]!(now))); });
now = await (await fetch(`${s.url}/fleet?app=big`)).text();
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const out: Record<string, Record<string, number[]>> = {};
const R = Number(process.env.R ?? 7);
for (let r = 0; r < R; r++) for (const v of Object.keys(variants)) {
  await browser.startTracing(page, { categories: ["devtools.timeline"] });
  await page.goto(`${s.url}/v/${v}`);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
  const t = JSON.parse((await browser.stopTracing()).toString()).traceEvents as any[];
  const sum: Record<string, number> = { total: 0 };
  for (const e of t) if (e.ph === "X" && ["ParseHTML", "UpdateLayoutTree", "Layout", "Paint", "PrePaint", "Layerize", "EvaluateScript"].includes(e.name)) { sum[e.name] = (sum[e.name] ?? 0) + (e.tdur ?? e.dur) / 1000; sum.total! += (e.tdur ?? e.dur) / 1000; }
  if (r === 0) continue;
  for (const [k, x] of Object.entries(sum)) ((out[v] ??= {})[k] ??= []).push(x);
}
const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [v, m] of Object.entries(out)) console.log(v.padEnd(12), Object.entries(m).map(([k, xs]) => `${k} ${med(xs).toFixed(1)}`).join("  "));
await browser.close(); await s.close();
