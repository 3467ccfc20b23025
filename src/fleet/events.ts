// Typed progress events of a deploy or rollback, for the chat and the web UI to subscribe to.

import type { FailureKind } from "./remote-shell.js";

export interface HostProblem {
  readonly host: string;
  readonly kind: FailureKind;
  /** The step that failed (prepare, promote, restart, smoke, census...). */
  readonly step: string;
  readonly message: string;
  readonly exitCode?: number;
  readonly stderrTail?: string;
}

/** continue: go on to the batches; retry: run the failed canaries again; rollback: undo what switched; stop: leave it as it is. */
export type GateVerdict = "continue" | "retry" | "rollback" | "stop";

export type DeployEvent =
  | { readonly type: "started"; readonly deployId: number; readonly app: string; readonly kind: "deploy" | "rollback"; readonly from: string | null; readonly to: string; readonly hosts: number }
  | { readonly type: "left-out"; readonly deployId: number; readonly problems: readonly HostProblem[] }
  | { readonly type: "stage-started"; readonly deployId: number; readonly stage: string; readonly hosts: readonly string[] }
  | { readonly type: "host-step"; readonly deployId: number; readonly host: string; readonly step: string; readonly ok: boolean; readonly ms: number }
  | { readonly type: "host-done"; readonly deployId: number; readonly host: string; readonly ok: boolean; readonly problem?: HostProblem; readonly ms: number }
  | { readonly type: "stage-done"; readonly deployId: number; readonly stage: string; readonly ok: number; readonly failed: number; readonly halted: boolean }
  | { readonly type: "gate"; readonly deployId: number; readonly stage: string; readonly verdict: GateVerdict; readonly reason: string }
  | { readonly type: "rollback-started"; readonly deployId: number; readonly hosts: readonly string[]; readonly reason: string }
  | { readonly type: "finished"; readonly deployId: number; readonly state: string; readonly summary: string };

/** The journal's pseudo-host for gate verdicts (not a valid host name, so it cannot clash). */
export const GATE_HOST = "(gate)";
