// Runs the built CLI (bin/tugboat.js) as a user would: a child process with its own data directory,
// a clean environment (no TUGBOAT_* from the caller) and, for the bot, a loopback port of its own.
// Everything started here is cleaned up when the test finishes: helpers take the test's context, whose
// onTestFinished is the one that works for concurrent tests too.

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestContext } from "vitest";
import { stringify } from "yaml";

export const ROOT = resolve(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "bin", "tugboat.js");

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** A temporary directory removed when the current test finishes. */
export function tempDir(t: TestContext, prefix = "tugboat-e2e-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The caller's environment without any TUGBOAT_* variable, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("TUGBOAT_")) env[k] = v;
  return { ...env, ...extra };
}

/** A loopback port nobody listened on a moment ago. */
export { freePort } from "../servers/daemon.js";

/** Holds a loopback port (so the bot cannot have it) until the test finishes. */
export async function holdPort(t: TestContext, port = 0): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok, fail) => server.once("error", fail).listen(port, "127.0.0.1", ok));
  t.onTestFinished(() => new Promise((ok) => server.close(() => ok())));
  return (server.address() as { port: number }).port;
}

/** Writes a YAML config into `dir` and returns its path. */
export function writeConfig(dir: string, config: Record<string, unknown>, name = "tugboat.yaml"): string {
  const path = join(dir, name);
  writeFileSync(path, stringify(config));
  return path;
}

/** A console-chat config on `port` with one SAL channel and one API token read from `{dataDir}/api-token`. */
export function consoleConfig(port: number, tokenName = "ci@e2e"): Record<string, unknown> {
  return {
    chat: "console",
    console: { nick: "you", channel: "#operations" },
    sal: { channels: { "#operations": {} }, projects: ["memcached"] },
    web: { host: "127.0.0.1", port },
    api: { tokens: [{ name: tokenName, token: { file: "api-token" } }] },
  };
}

/** Runs `tugboat ARGS` to completion, feeding `input` (then end of input) on stdin. */
export function runCli(args: string[], opts: { env: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<CliResult> {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { env: opts.env, cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  child.stdin.end(opts.input ?? "");
  const timeoutMs = opts.timeoutMs ?? 20_000;
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`tugboat ${args.join(" ")} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once("error", fail);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      ok({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

export interface RunningCli {
  readonly child: ChildProcessWithoutNullStreams;
  /** The web UI's URL from the start-up banner. */
  readonly url: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching `re`. */
  waitForStdout(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the process has exited (and its output is read). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/**
 * Starts `tugboat ARGS start` with stdin a pipe that stays open (the console chat keeps running),
 * and resolves once the banner names the web UI's URL. The process is SIGKILLed at test end if alive.
 */
export async function startCli(t: TestContext, args: string[], opts: { env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunningCli> {
  const child = spawn(process.execPath, [BIN, ...args, "start"], { env: opts.env, cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const watchers = new Set<() => void>();
  const notify = () => watchers.forEach((w) => w());
  child.stdout.setEncoding("utf8").on("data", (s: string) => ((stdout += s), notify()));
  child.stderr.setEncoding("utf8").on("data", (s: string) => ((stderr += s), notify()));
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((ok) => {
    child.once("close", (code, signal) => {
      done = true;
      ok({ code, signal, at: Date.now() });
      notify();
    });
  });
  t.onTestFinished(async () => {
    if (!done) {
      child.kill("SIGKILL");
      await exited;
    }
  });

  const waitFor = <T>(what: string, test: () => T | undefined, timeoutMs: number): Promise<T> =>
    new Promise((ok, fail) => {
      const check = () => {
        const found = test();
        if (found !== undefined) {
          cleanup();
          ok(found);
        } else if (done) {
          cleanup();
          fail(new Error(`tugboat exited before ${what}\nstdout: ${stdout}\nstderr: ${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        fail(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        watchers.delete(check);
      };
      watchers.add(check);
      check();
    });

  const url = await waitFor("the start-up banner", () => /^tugboat: web UI at (\S+),/m.exec(stderr)?.[1], opts.timeoutMs ?? 20_000);
  return {
    child,
    url,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStdout: (re, timeoutMs = 10_000) => waitFor(`stdout matching ${re}`, () => stdout.split("\n").find((l) => re.test(l)), timeoutMs),
    exited,
  };
}
