// The deploy host's staging repository of one app: a bare clone kept fresh by fetch, where refs
// are resolved, security patches are applied on top (kept under refs/tugboat/), commit ranges and
// diffs are read for announcements, and bundles are cut for the hosts. Every git call has a
// deadline; no user text reaches git before it passes the ref rules of ref-name.ts.
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ConfigError, RemoteError, UserError } from "../errors.js";
import { editDistance } from "../text/did-you-mean.js";
import { LOG_FORMAT, capDiff, parseLog, parseShortstat, type CommitRange } from "./commit-range.js";
import { GitRunner, gitReason, redactUrls, type GitCall } from "./git-runner.js";
import { assertValidRef, isFullSha, looksLikeSha, quoted } from "./ref-name.js";
import { PatchError, applyPatches, listPatches, type PatchResult } from "./security-patches.js";

export type { CommitInfo, CommitRange } from "./commit-range.js";
export { PatchError, type PatchResult } from "./security-patches.js";

export interface StagingOptions {
  /** Where the deploy host keeps its clone (a bare or non-bare mirror), e.g. DATA_DIR/staging/APP. */
  dir: string;
  /** The app's repository: a git URL or a local path. */
  source: string;
  /** Private security patches: *.patch files applied with `git am` in name order (null or missing: none). */
  patchesDir: string | null;
  /** Deadline of each git operation. */
  timeoutMs: number;
  /** Commit link template with {sha}, for summaries. */
  commitUrl: string | null;
}

export interface StagedRevision {
  /** The SHA hosts will run: the upstream commit plus the security patches (or upstreamSha itself). */
  sha: string;
  /** The upstream commit the ref resolved to (before patches). */
  upstreamSha: string;
  ref: string;
  patches: PatchResult[];
}

export interface RangeOptions {
  /** Only the commits on the first-parent line (merges, not what they brought in). */
  firstParent?: boolean;
  /** At most this many commits in `commits` (`count` is always the full number). */
  limit?: number;
  signal?: AbortSignal;
}

const BRANCHES = "refs/remotes/origin/";
const STAGED = "refs/tugboat/staged/";
/** refs/tugboat/upstream/<patched sha> -> the upstream commit it was built on. */
const UPSTREAM = "refs/tugboat/upstream/";

export class Staging {
  private readonly git: GitRunner;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: StagingOptions) {
    if (o.source === "" || o.source.startsWith("-") || /[\x00-\x1f\x7f]/.test(o.source)) {
      throw new ConfigError(`staging source ${quoted(redactUrls(o.source))} is not a git URL or path`);
    }
    this.git = new GitRunner(o.timeoutMs);
  }

  /** Clone if missing, else fetch: all branches (as origin/*) and tags, pruning deleted ones. */
  update(signal?: AbortSignal): Promise<void> {
    return this.serial(async () => {
      if (!existsSync(join(this.o.dir, "HEAD")) && !existsSync(join(this.o.dir, ".git"))) {
        await mkdir(dirname(this.o.dir), { recursive: true });
        await this.git.run({ op: "init", cwd: dirname(this.o.dir), args: ["init", "--bare", "--quiet", "--", this.o.dir], signal });
      }
      // Explicit refspecs, never --mirror: its prune would delete our refs/tugboat/*.
      const refspecs = [`+refs/heads/*:${BRANCHES}*`, "+refs/tags/*:refs/tags/*"];
      await this.run("fetch", ["fetch", "--quiet", "--prune", "--no-write-fetch-head", "--", this.o.source, ...refspecs], signal);
    });
  }

  /**
   * A branch, tag or (abbreviated) SHA to a full commit SHA, tried in that order; an unknown or
   * ambiguous ref is a UserError naming it, with close branch names as suggestions.
   */
  async resolve(ref: string): Promise<string> {
    assertValidRef(ref);
    const candidates = [`${BRANCHES}${ref}`, `refs/tags/${ref}`, ...(looksLikeSha(ref) ? [ref.toLowerCase()] : [])];
    for (const name of candidates) {
      const sha = await this.commitOf(name);
      if (sha !== null) return sha;
    }
    if (looksLikeSha(ref) && (await this.run("rev-parse", ["rev-parse", `--disambiguate=${ref.toLowerCase()}`])).trim().includes("\n")) {
      throw new UserError(`${quoted(ref)} matches several objects in the staging repository; give more digits`);
    }
    const near = await this.nearBranches(ref);
    const hint = near.length > 0 ? `; did you mean ${near.map((b) => quoted(b)).join(" or ")}?` : "";
    throw new UserError(`no branch, tag or commit ${quoted(ref)} in the staging repository${hint}`);
  }

  /** Resolves `ref` and applies the security patches on top; a patch that fails throws PatchError. */
  stage(ref: string, signal?: AbortSignal): Promise<StagedRevision> {
    return this.serial(async () => {
      const upstreamSha = await this.resolve(ref);
      const patches = await listPatches(this.o.patchesDir);
      const out = patches.length > 0 ? await applyPatches(this.git, this.o.dir, upstreamSha, patches, signal) : null;
      if (out?.failed) throw new PatchError(out.results, patches.length - out.results.length, `${ref} (${upstreamSha.slice(0, 10)})`);
      const sha = out?.sha ?? upstreamSha;
      // Refs keep the deployed commit from gc even when its branch is force-pushed away.
      await this.run("update-ref", ["update-ref", `${STAGED}${sha}`, sha], signal);
      if (sha !== upstreamSha) await this.run("update-ref", ["update-ref", `${UPSTREAM}${sha}`, upstreamSha], signal);
      return { sha, upstreamSha, ref, patches: out?.results ?? [] };
    });
  }

  /**
   * Commits in from..to (those in `to` but not in `from`), newest first, and the diffstat of the
   * trees from -> to. A patched SHA stands for its upstream commit, so patches are never counted.
   */
  async range(from: string | null, to: string, opts: RangeOptions = {}): Promise<CommitRange> {
    const signal = opts.signal;
    const [a, b] = await this.endpoints(from, to, signal);
    const walk = [...(opts.firstParent ? ["--first-parent"] : []), ...(a !== null ? [b, `^${a}`] : ["-1", b])];
    const count = Number((await this.run("rev-list", ["rev-list", "--count", ...walk], signal)).trim());
    const limit = opts.limit !== undefined ? [`--max-count=${opts.limit}`] : [];
    const log = await this.run("log", ["log", "--no-show-signature", "-z", LOG_FORMAT, ...limit, ...walk], signal);
    const stat = parseShortstat(await this.run("diff", ["diff", "--shortstat", "--no-ext-diff", "--no-textconv", await this.base(a, b, signal), b], signal));
    return { from: a, to: b, commits: parseLog(log, this.o.commitUrl), count, ...stat };
  }

  /** The unified diff of from..to (security patches excluded), at most maxBytes with a marker. */
  async diff(from: string | null, to: string, maxBytes: number, signal?: AbortSignal): Promise<string> {
    const [a, b] = await this.endpoints(from, to, signal);
    const base = await this.base(a, b, signal);
    const out = await this.git.exec({
      op: "diff",
      cwd: this.o.dir,
      args: ["diff", "--no-color", "--no-ext-diff", "--no-textconv", base, b],
      maxStdout: maxBytes,
      signal,
    });
    if (out.exitCode !== 0 && !out.truncated) throw new RemoteError("git diff", gitReason(out.stderr));
    return capDiff(out.stdout, !out.truncated, maxBytes, `[diff cut at ${maxBytes} bytes: git diff ${base.slice(0, 12)} ${b.slice(0, 12)}]`);
  }

  /**
   * How many files differ between the trees of two commits of this repository (full SHAs, patched ones
   * included: this counts what a host's release holds, not the upstream range). What a release made
   * from `from` had to write or remove to become `to`.
   */
  async changedFiles(from: string, to: string, signal?: AbortSignal): Promise<number> {
    if (!isFullSha(from) || !isFullSha(to)) throw new UserError(`changedFiles takes full SHAs, not ${quoted(from)} and ${quoted(to)}`);
    const out = await this.run("diff-tree", ["diff-tree", "-r", "--no-renames", "--shortstat", "--end-of-options", from.toLowerCase(), to.toLowerCase()], signal);
    return parseShortstat(out).filesChanged;
  }

  /** Whether commit `sha` (full or abbreviated) is here. */
  async has(sha: string): Promise<boolean> {
    return looksLikeSha(sha) && (await this.commitOf(sha.toLowerCase())) !== null;
  }

  /**
   * A bundle of `sha` for a host that holds `haves` (unknown ones are dropped; none: a full
   * bundle), or null when the host already has it. The size is the Buffer's byteLength.
   */
  bundle(sha: string, haves: readonly string[], signal?: AbortSignal): Promise<Buffer | null> {
    return this.serial(async () => {
      if (!isFullSha(sha) || !(await this.has(sha))) throw new UserError(`commit ${quoted(sha)} is not in the staging repository`);
      const target = sha.toLowerCase();
      const known: string[] = [];
      for (const h of new Set(haves.map((x) => x.toLowerCase()))) if (isFullSha(h) && (await this.has(h))) known.push(h);
      const not = known.map((h) => `^${h}`);
      if (Number((await this.run("rev-list", ["rev-list", "--count", target, ...not], signal)).trim()) === 0) return null;
      // A bundle names refs, not bare SHAs (git refuses an "empty bundle" otherwise).
      await this.run("update-ref", ["update-ref", `${STAGED}${target}`, target], signal);
      const out = await this.git.exec({ op: "bundle create", cwd: this.o.dir, args: ["bundle", "create", "--quiet", "-", `${STAGED}${target}`, ...not], signal });
      if (out.exitCode !== 0) throw new RemoteError("git bundle create", gitReason(out.stderr));
      return out.stdout;
    });
  }

  /** The tree of commit `sha` (full SHA, in this repository). */
  async tree(sha: string, signal?: AbortSignal): Promise<string> {
    if (!isFullSha(sha)) throw new UserError(`commit ${quoted(sha)} is not a full SHA`);
    return (await this.run("rev-parse", ["rev-parse", "--verify", "--end-of-options", `${sha.toLowerCase()}^{tree}`], signal)).trim();
  }

  private run(op: string, args: string[], signal?: AbortSignal): Promise<string> {
    const call: GitCall = { op, cwd: this.o.dir, args, signal };
    return this.git.run(call);
  }

  private async commitOf(name: string, signal?: AbortSignal): Promise<string | null> {
    const args = ["rev-parse", "--verify", "--quiet", "--end-of-options", `${name}^{commit}`];
    const out = await this.git.exec({ op: "rev-parse", cwd: this.o.dir, args, signal });
    return out.exitCode === 0 ? out.stdout.toString("utf8").trim() : null;
  }

  /** Full upstream SHAs for a range; a patched SHA stands for the upstream commit it was built on. */
  private async endpoints(from: string | null, to: string, signal?: AbortSignal): Promise<[string | null, string]> {
    const one = async (sha: string): Promise<string> => {
      if (!looksLikeSha(sha)) throw new UserError(`${quoted(sha)} is not a commit id`);
      const full = await this.commitOf(sha.toLowerCase(), signal);
      if (full === null) throw new UserError(`commit ${quoted(sha)} is not in the staging repository`);
      return (await this.commitOf(`${UPSTREAM}${full}`, signal)) ?? full;
    };
    return [from === null ? null : await one(from), await one(to)];
  }

  /** What `to` is compared with: `from`, else its first parent, else the empty tree. */
  private async base(from: string | null, to: string, signal?: AbortSignal): Promise<string> {
    if (from !== null) return from;
    const parent = await this.commitOf(`${to}^1`, signal);
    return parent ?? (await this.run("hash-object", ["hash-object", "-t", "tree", "/dev/null"], signal)).trim();
  }

  private async nearBranches(ref: string): Promise<string[]> {
    const out = await this.run("for-each-ref", ["for-each-ref", "--format=%(refname:lstrip=3)", BRANCHES]);
    const max = Math.max(2, Math.floor(ref.length / 3));
    return out
      .split("\n")
      .filter((b) => b !== "" && b !== "HEAD")
      .map((b) => ({ b, d: b.toLowerCase().includes(ref.toLowerCase()) ? 0 : editDistance(ref.toLowerCase(), b.toLowerCase()) }))
      .filter((x) => x.d <= max)
      .sort((x, y) => x.d - y.d || x.b.localeCompare(y.b))
      .slice(0, 3)
      .map((x) => x.b);
  }

  /** One mutating operation at a time: concurrent fetches or ref updates would fight over locks. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
