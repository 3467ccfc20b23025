// The deploy page's grid: the deploy replayed from its journal rows, as frames of cell patches (the
// same patches the live stream sends), rendered at its last frame with a slider and a play button.

import { GATE_HOST } from "../fleet/events.js";
import type { DeployRecord, StepRecord } from "../fleet/journal.js";
import { FleetGrid, type GridApp } from "./fleet-grid.js";
import { escapeHtml } from "./linkify.js";
import { DETAIL_PANEL, GRID_SCRIPT, gridPatch, scriptJson, sectionsHtml, STATE_KEY, KEYS_HINT, type GridPatch } from "./fleet-view.js";

export type ReplayFrame = GridPatch & { readonly at: string };

/** Rows closer together than this are one frame. */
const FRAME_MS = 250;

/** The app as configured, or (no longer configured) as its journal rows describe it. */
export function replayApp(deploy: DeployRecord, steps: readonly StepRecord[], configured: GridApp | undefined): GridApp {
  if (configured) return configured;
  const hosts = [...new Set(steps.filter((s) => s.host !== GATE_HOST).map((s) => s.host))].map((name) => ({ name, groups: [] }));
  return { name: deploy.app, hosts, canaries: [], targets: [], restart: steps.some((s) => s.step === "restart"), smoke: steps.some((s) => s.step === "smoke") };
}

export function replayFrames(deploy: DeployRecord, steps: readonly StepRecord[], app: GridApp, shipped: ReadonlyMap<string, string>, now: number): { grid: FleetGrid; frames: ReplayFrame[] } {
  const grid = new FleetGrid([app]);
  grid.setShipped(app.name, shipped);
  const frame = (keys: Iterable<string>, at: string): ReplayFrame => ({ ...gridPatch(grid, new Set(keys), [app.name], now, false), at });
  const frames: ReplayFrame[] = [frame([...grid.beginReplay(deploy), ...grid.cells.keys()], deploy.startedAt)];
  let batch: string[] = [];
  let batchAt: string | null = null;
  const close = () => {
    if (batchAt !== null) frames.push(frame(batch, batchAt));
    [batch, batchAt] = [[], null];
  };
  for (const s of steps) {
    if (s.host === GATE_HOST) continue;
    if (batchAt !== null && Date.parse(s.at) - Date.parse(batchAt) > FRAME_MS) close();
    batchAt ??= s.at;
    batch.push(...grid.replayStep(app.name, s));
  }
  close();
  if (deploy.finishedAt) frames.push(frame([...grid.endReplay(app.name, true), ...grid.cells.keys()], deploy.finishedAt));
  return { grid, frames };
}

/** The grid section of a deploy page. */
export function replayHtml(deploy: DeployRecord, steps: readonly StepRecord[], app: GridApp, shipped: ReadonlyMap<string, string>, now: number, liveHref: string): string {
  const { grid, frames } = replayFrames(deploy, steps, app, shipped, now);
  const last = frames.length - 1;
  const json = scriptJson(frames);
  const live = deploy.finishedAt ? "" : `<p>This ${escapeHtml(deploy.kind)} is running: <a href="${escapeHtml(liveHref)}">watch it live</a> (this grid is the journal as this page loaded).</p>`;
  return `${live}${STATE_KEY}${KEYS_HINT}
<div class="replay"><button type="button" id="replay-play">Play</button><input type="range" id="replay-pos" min="0" max="${last}" value="${last}" aria-label="Replay position"><time id="replay-at">${escapeHtml(frames[last]!.at)}</time></div>
<div id="fleet" data-frame="${last}">${sectionsHtml(grid, grid.sections, now, false)}</div>
${DETAIL_PANEL}
<script type="application/json" id="replay-frames">${json}</script>
<script>${GRID_SCRIPT}</script>`;
}
