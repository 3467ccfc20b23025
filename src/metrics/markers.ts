// Deploy markers: every deploy and rollback becomes a Graphite event (tags deploy and the app; data:
// range, deployer, reason) and a Grafana annotation when Grafana is configured. A failing marker never
// fails a deploy: it is logged and counted (tugboat_deploy_markers_total{target,outcome}).

import type { Logger } from "pino";
import { shortSha as short } from "../git/commit-range.js";
import type { Annotator } from "./grafana.js";
import { MetricError, type Marker } from "./source.js";

export interface DeployMark {
  readonly app: string;
  readonly kind: "deploy" | "rollback";
  readonly deployId: number;
  readonly from: string | null;
  readonly to: string;
  readonly nick: string;
  readonly reason: string;
  readonly state: string;
  /** ms since the epoch: when the deploy switched (its start). */
  readonly when: number;
}


export function markerFor(d: DeployMark): Marker {
  return {
    what: `${d.kind} ${d.app} #${d.deployId}`,
    tags: ["deploy", d.app, ...(d.kind === "rollback" ? ["rollback"] : [])],
    when: d.when,
    data: `${short(d.from)}..${short(d.to)} by ${d.nick} (${d.state}): ${d.reason}`,
  };
}

export class DeployMarkers {
  constructor(
    private readonly targets: readonly Annotator[],
    private readonly log: Logger,
    private readonly count: (labels: { target: string; outcome: string }) => void,
  ) {}

  get enabled(): boolean {
    return this.targets.length > 0;
  }

  /** Posts the marker everywhere; resolves when every target answered or failed (never rejects). */
  async mark(d: DeployMark): Promise<void> {
    const m = markerFor(d);
    await Promise.all(
      this.targets.map(async (t) => {
        try {
          await t.mark(m);
          this.count({ target: t.kind, outcome: "ok" });
        } catch (e) {
          this.count({ target: t.kind, outcome: e instanceof MetricError ? e.kind : "error" });
          this.log.warn({ err: e, target: t.kind, app: d.app, deployId: d.deployId }, "deploy marker failed (the deploy is not affected)");
        }
      }),
    );
  }
}
