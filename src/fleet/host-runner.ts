// Runs one step on one host: builds the framed command, applies the step's deadline, records the
// result in the journal, and turns whatever happened into an honest outcome (never "ok" by default).

import { randomBytes } from "node:crypto";
import type { HostProblem } from "./events.js";
import { HostFailure, type Host, type RemoteShell } from "./remote-shell.js";
import { framed, hasRemoteDeadline, stepCommand, type StepName } from "./steps.js";

export type StepResult =
  | { readonly ok: true; readonly lines: string[]; readonly ms: number; readonly stderrTail?: string }
  | {
      readonly ok: false;
      readonly problem: HostProblem;
      readonly ms: number;
      readonly lines?: string[] | null;
      /** Stopped at a deadline or by an abort: whether the host confirmed the kill (undefined: not stopped so). */
      readonly killed?: boolean;
    };

export interface StepRunnerDeps {
  readonly shell: RemoteShell;
  readonly umask: string;
  readonly now: () => number;
  readonly record: (host: string, step: string, result: StepResult, detail?: string | null) => void;
}

export interface StepRun {
  /** The step's deadline here (the command is killed on the host when it passes). */
  readonly timeoutSec: number;
  /** The deadline the step carries on the host (prepare's timeout(1)); default timeoutSec. */
  readonly hostDeadlineSec?: number;
  readonly stdin?: Buffer | undefined;
  readonly signal?: AbortSignal | undefined;
  /** false: the caller records what the step's lines mean (a step that reports several phases). */
  readonly record?: boolean;
  /** Each line the step prints after its frame marker, as it arrives. */
  readonly onLine?: (line: string) => void;
}

/** Feeds complete framed lines to onLine as output arrives; text before the marker is ignored. */
function lineFeed(nonce: string, onLine: (line: string) => void): (text: string) => void {
  const begin = `@@tugboat-${nonce}@@ begin\n`;
  let buffer = "";
  let framing = false;
  return (text) => {
    buffer += text;
    if (!framing) {
      const at = buffer.indexOf(begin);
      if (at < 0) return void (buffer = buffer.slice(-begin.length));
      framing = true;
      buffer = buffer.slice(at + begin.length);
    }
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line) onLine(line);
    }
  };
}

const TAIL_LINES = 5;
/** A step under timeout(1) on the host gets this long past its deadline to report the kill itself. */
const REMOTE_DEADLINE_GRACE_MS = 3000;

export async function runStep(deps: StepRunnerDeps, host: Host, step: StepName, args: string[], run: StepRun): Promise<StepResult & { bytesSent: number }> {
  const { timeoutSec, stdin, signal } = run;
  const nonce = randomBytes(8).toString("hex");
  const command = stepCommand(step, args, { umask: deps.umask, timeoutSec: run.hostDeadlineSec ?? timeoutSec, nonce });
  const started = deps.now();
  let result: StepResult;
  let bytesSent = 0;
  try {
    const onStdout = run.onLine ? lineFeed(nonce, run.onLine) : undefined;
    const remote = hasRemoteDeadline(step);
    const timeoutMs = timeoutSec * 1000 + (remote ? REMOTE_DEADLINE_GRACE_MS : 0);
    const r = await deps.shell.exec(host, { command, timeoutMs, ...(stdin ? { stdin } : {}), ...(signal ? { signal } : {}), ...(onStdout ? { onStdout } : {}) });
    bytesSent = r.bytesSent;
    const ms = deps.now() - started;
    const lines = framed(r.stdout, nonce);
    const errLines = framed(r.stderr, nonce) ?? r.stderr.split("\n").filter(Boolean);
    const stderrTail = errLines.slice(-TAIL_LINES).join("\n");
    if (r.code === 0 && lines !== null) result = { ok: true, lines, ms, stderrTail };
    else if (remote && (r.code === 124 || r.code === 137)) result = { ok: false, ms, lines, problem: { host: host.name, kind: "timeout", step, message: `${step} timed out after ${timeoutSec}s (killed on the host)`, exitCode: r.code, stderrTail } };
    else if (lines === null) result = { ok: false, ms, problem: { host: host.name, kind: "failed", step, message: `${step} did not start: the host's shell failed (exit code ${r.code})`, exitCode: r.code, stderrTail } };
    else result = { ok: false, ms, lines, problem: { host: host.name, kind: "failed", step, message: `${step} failed with exit code ${r.code}${stderrTail ? `: ${errLines.at(-1)}` : ""}`, exitCode: r.code, stderrTail } };
  } catch (e) {
    const ms = deps.now() - started;
    if (!(e instanceof HostFailure)) throw e;
    // A step killed at its deadline: what it printed until then still says how far it got.
    const lines = e.detail.stdout !== undefined ? framed(e.detail.stdout, nonce) : null;
    const stderrTail = e.detail.stderr !== undefined ? (framed(e.detail.stderr, nonce) ?? e.detail.stderr.split("\n").filter(Boolean)).slice(-TAIL_LINES).join("\n") : undefined;
    const message = e.kind === "timeout" && e.detail.killed !== undefined ? `${step} timed out after ${timeoutSec}s (${e.detail.killed ? "killed on the host" : "the host did not confirm it was killed"})` : e.message.replace(`${host.name}: `, "");
    result = { ok: false, ms, lines, ...(e.detail.killed !== undefined ? { killed: e.detail.killed } : {}), problem: { host: host.name, kind: e.kind, step: e.detail.step ?? step, message, ...(stderrTail ? { stderrTail } : {}) } };
  }
  if (run.record !== false) deps.record(host.name, step, result);
  return { ...result, bytesSent };
}
