// Runs one git command through simple-git (spawn, no shell) under a hard deadline and the
// caller's AbortSignal, and hands back exit code, raw stdout bytes and stderr. A deadline or
// an abort is a RemoteError naming the operation ("git fetch: timed out after 500 ms").
import { GitPluginError, simpleGit, type SimpleGit, type SimpleGitOptions } from "simple-git";
import { RemoteError } from "../errors.js";

export interface GitCall {
  /** Names the operation in errors: "fetch", "am", "bundle create", ... */
  op: string;
  cwd: string;
  args: readonly string[];
  signal?: AbortSignal | undefined;
  /** `-c key=value` settings for this command only. */
  config?: readonly string[];
  /** Stop git (and report `truncated`) once stdout passes this many bytes. */
  maxStdout?: number;
}

export interface GitOutput {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
  truncated: boolean;
}

interface Captured {
  exitCode: number;
  stdOut: Buffer[];
  stdErr: Buffer[];
}

/** Hides the password or token of `scheme://user:secret@host` in text bound for a message. */
export function redactUrls(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, "$1***@");
}

/** The first line of git's stderr worth showing, without the "fatal: " / "error: " prefix. */
export function gitReason(stderr: string): string {
  const line = stderr
    .split("\n")
    .map((l) => l.trim())
    .find((l) => /^(fatal|error):/.test(l)) ?? stderr.split("\n").find((l) => l.trim() !== "");
  return redactUrls((line ?? "no output").replace(/^(fatal|error):\s*/, "").trim());
}

function watchStdout(git: SimpleGit, limit: number, cap: AbortController): void {
  let seen = 0;
  git.outputHandler((_command, stdout) => {
    stdout.on("data", (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit && !cap.signal.aborted) cap.abort();
    });
  });
}

export class GitRunner {
  constructor(readonly timeoutMs: number) {}

  /** Runs git; any exit status resolves (check `exitCode`); only a deadline or an abort rejects. */
  async exec(call: GitCall): Promise<GitOutput> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const cap = new AbortController();
    const signals = [deadline, cap.signal, ...(call.signal ? [call.signal] : [])];
    let captured: Captured | undefined;
    const options: Partial<SimpleGitOptions> = {
      baseDir: call.cwd,
      abort: AbortSignal.any(signals),
      config: [...(call.config ?? [])],
      trimmed: false,
      // We pass core.hooksPath=/dev/null ourselves, to keep hooks out of `git am`.
      unsafe: { allowUnsafeHooksPath: true },
      // simple-git treats some non-zero exits as success and some as errors (only when stderr is
      // non-empty); take every exit status as data here and decide per command.
      errors: (error, result) => {
        captured = result;
        return error instanceof GitPluginError ? error : undefined;
      },
    };
    try {
      const git = simpleGit(options);
      if (call.maxStdout !== undefined) watchStdout(git, call.maxStdout, cap);
      await git.raw([...call.args]);
    } catch (e) {
      if (deadline.aborted) throw new RemoteError(`git ${call.op}`, `timed out after ${this.timeoutMs} ms`, { cause: e });
      if (call.signal?.aborted) throw new RemoteError(`git ${call.op}`, "cancelled", { cause: e });
      if (!cap.signal.aborted) throw new RemoteError(`git ${call.op}`, redactUrls(String(e)), { cause: e });
    }
    if (captured === undefined) throw new RemoteError(`git ${call.op}`, "git produced no result");
    return {
      exitCode: captured.exitCode,
      stdout: Buffer.concat(captured.stdOut),
      stderr: Buffer.concat(captured.stdErr).toString("utf8"),
      truncated: cap.signal.aborted,
    };
  }

  /** Runs git and returns stdout; a non-zero exit is a RemoteError with git's reason. */
  async run(call: GitCall): Promise<string> {
    const out = await this.exec(call);
    if (out.exitCode !== 0) throw new RemoteError(`git ${call.op}`, gitReason(out.stderr));
    return out.stdout.toString("utf8");
  }

  /** Runs git and tells whether it exited 0 (for `--verify --quiet`, `--is-ancestor`, ...). */
  async ok(call: GitCall): Promise<boolean> {
    return (await this.exec(call)).exitCode === 0;
  }
}
