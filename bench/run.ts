// Entry point: `npm run bench` runs every benchmark in turn (but fleet-deploy, which runs only when
// named), `npm run bench -- NAME [NAME...]` only those. Each prints its table and writes
// bench/results/NAME.json; the total wall time ends the run.

import { performance } from "node:perf_hooks";

const benchmarks: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  "log-roundtrip": () => import("./log-roundtrip.js"),
  "api-insert": () => import("./api-insert.js"),
  "search-1m": () => import("./search-1m.js"),
  "fleet-deploy": () => import("./fleet-deploy.js"),
  "step-cost": () => import("./step-cost.js"),
  "fleet-page": () => import("./fleet-page.js"),
  "host-profile": () => import("./host-profile.js"),
};

/**
 * Run only when named: fleet-deploy is minutes long and writes millions of files on the simulated
 * hosts; host-profile samples the whole machine with perf (see bench/README.md).
 */
const OPT_IN = new Set(["fleet-deploy", "host-profile"]);

const asked = process.argv.slice(2).filter((a) => a.length > 0);
const unknown = asked.filter((a) => !(a in benchmarks));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(", ")}; known: ${Object.keys(benchmarks).join(", ")}`);
  process.exit(2);
}
const names = asked.length > 0 ? asked : Object.keys(benchmarks).filter((n) => !OPT_IN.has(n));
const start = performance.now();
for (const name of names) {
  const t0 = performance.now();
  console.log(`\n=== ${name} ===`);
  const mod = await benchmarks[name]!();
  await mod.run();
  console.log(`${name} took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
console.log(`\nbench total: ${((performance.now() - start) / 1000).toFixed(1)} s (${names.join(", ")})`);
// The ngircd helper's exit hook kills any server left behind; children exit when we disconnect.
process.exit(0);
