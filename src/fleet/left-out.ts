// Hosts a deploy left out (their census failed) get no step rows from the engine; the deploy page's
// grid replays the journal, so they are recorded as a failed "census" step of that deploy.

import type { DeployEvent } from "./events.js";
import type { DeployJournal } from "./journal.js";

export function recordLeftOut(journal: Pick<DeployJournal, "step">, e: DeployEvent): void {
  if (e.type !== "left-out") return;
  for (const p of e.problems) journal.step({ deployId: e.deployId, host: p.host, step: "census", outcome: p.kind, ms: 0, detail: [p.message, p.stderrTail].filter(Boolean).join("\n") });
}
