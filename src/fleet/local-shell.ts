// RemoteShell on this machine: each "host" is a directory (the demo fleet of the embedded default).
// Commands run under /bin/sh as child processes, with the same deadline and honesty as over SSH.

import { spawn } from "node:child_process";
import { HostFailure, type ExecRequest, type ExecResult, type Host, type RemoteShell } from "./remote-shell.js";

const TAIL_BYTES = 64 * 1024;

export class LocalShell implements RemoteShell {
  async exec(host: Host, req: ExecRequest): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = spawn("/bin/sh", ["-c", req.command], { stdio: ["pipe", "pipe", "pipe"], detached: true });
      let stdout = "";
      let stderr = "";
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal?.removeEventListener("abort", onAbort);
        fn();
      };
      const kill = () => {
        try {
          process.kill(-child.pid!, "SIGKILL"); // the whole group: a hung restart's children too
        } catch {
          /* already gone */
        }
      };
      const timer = setTimeout(() => {
        kill();
        finish(() => reject(new HostFailure(host.name, "timeout", `timed out after ${req.timeoutMs} ms (killed)`, { killed: true, stdout, stderr })));
      }, req.timeoutMs);
      const onAbort = () => {
        kill();
        finish(() => reject(new HostFailure(host.name, "timeout", "aborted", { killed: true, stdout, stderr })));
      };
      req.signal?.addEventListener("abort", onAbort, { once: true });
      const decoder = new TextDecoder();
      child.stdout.on("data", (d: Buffer) => {
        const text = decoder.decode(d, { stream: true });
        stdout = (stdout + text).slice(-TAIL_BYTES * 4);
        req.onStdout?.(text);
      });
      child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString("utf8")).slice(-TAIL_BYTES)));
      child.on("error", (e) => finish(() => reject(new HostFailure(host.name, "unreachable", e.message))));
      child.on("close", (code, signal) => finish(() => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, bytesSent: req.stdin?.length ?? 0 })));
      child.stdin.on("error", () => {}); // a step that does not read its stdin closes it early
      child.stdin.end(req.stdin ?? Buffer.alloc(0));
    });
  }

  /** A directory on this machine: nothing to connect to. */
  async connect(): Promise<void> {}

  connectionStats(): { open: number; made: number } {
    return { open: 0, made: 0 };
  }

  async close(): Promise<void> {}
}
