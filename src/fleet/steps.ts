// The fixed scripts a host runs, one per step, and the framing that makes their output trustworthy.
// prepare runs as `env -i PATH=... LC_ALL=C timeout ... /bin/sh -c SCRIPT`; the light steps (census,
// activate) as `/bin/sh -c SCRIPT`, the script clearing what matters itself. ship, a deploy's work on
// a host in one exec, is a light step that runs prepare as a child, wrapped as above, then activate. Each has an explicit
// umask: nothing from login files (.bashrc output, umask, exported variables, functions) reaches the
// step, and text printed before the frame marker is ignored. Arguments are positional ($2...), quoted
// by shellQuote; never spliced.
//
// Deadlines: every step is killed on the host when its deadline passes. The RemoteShell does it (an
// SSH "signal" request, which sshd answers by killing the session's process group; LocalShell kills
// the group itself). prepare, which can run long and writes much, is also under timeout(1) on the
// host, so it dies at its deadline even if the connection to the bot is gone. The light steps are
// not: timeout(1) is one more process and a fork a host, a sixth of a rollback's cost.

import { shellCommand } from "./quote.js";

export type StepName = "census" | "prepare" | "activate" | "ship";

const FRAME = `printf '%s begin\\n' "$1"; printf '%s begin\\n' "$1" >&2; set -u`;
/**
 * For the light wrapper: what env -i would give, done by the shell itself. PATH and the locale are
 * set, and everything a login file could export that changes what the step's commands do is removed.
 */
const HYGIENE = "export PATH=/usr/local/bin:/usr/bin:/bin LC_ALL=C; unset CDPATH ENV BASH_ENV POSIXLY_CORRECT LD_PRELOAD LD_LIBRARY_PATH GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_CONFIG GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT GIT_NAMESPACE GIT_COMMON_DIR";
/**
 * Steps that start few processes and need neither git's configuration nor a pristine environment
 * (ship runs its prepare part under env -i and timeout(1) itself, as a child).
 */
const LIGHT: ReadonlySet<StepName> = new Set(["census", "activate", "ship"]);

/** Steps whose whole run carries its deadline on the host (timeout(1)); see the note at the top. */
export function hasRemoteDeadline(step: StepName): boolean {
  return !LIGHT.has(step);
}

/** How long past prepare's deadline timeout(1) waits before it kills with KILL. */
export const PREPARE_KILL_AFTER_SEC = 5;
/** The clean environment prepare runs in, and its deadline on the host (timeout(1)), before the deadline itself. */
const PREPARE_WRAPPER = ["/usr/bin/env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", "/usr/bin/timeout", "-k", String(PREPARE_KILL_AFTER_SEC)];

const SCRIPTS: Record<Exclude<StepName, "ship">, string> = {
  // $2 base. Shell builtins only (it runs on every host before every deploy): the live release by
  // cd -P, the revisions the cache holds from its refs/tugboat/ refs, loose or packed.
  census: `
cd "$2" 2>/dev/null || { echo "nobase"; exit 0; }
cur=""; if cd -P current 2>/dev/null; then cur=\${PWD##*/}; cd "$2" || exit 3; fi; echo "current $cur"
prev=""; [ -f .tugboat-previous ] && read -r prev < .tugboat-previous; echo "previous $prev"
for d in releases/*/; do
  [ -d "$d" ] || continue; s=\${d%/}; s=\${s##*/}
  if [ -f "$d.tugboat-complete" ]; then echo "release $s complete"; else echo "release $s incomplete"; fi
done
for r in cache.git/refs/tugboat/*; do [ -f "$r" ] && echo "have \${r##*/}"; done
if [ -f cache.git/packed-refs ]; then
  while read -r sha ref; do case $ref in refs/tugboat/*) echo "have $sha";; esac; done < cache.git/packed-refs
fi
exit 0`,
  // $2 base, $3 sha, $4 "1" when a git bundle comes on stdin, $5 "reset" to start a fresh cache repo,
  // $6 the revision's tree (from the staging repository), $7 the releases the host keeps.
  // The bundle's header is read by the shell (its read builtin takes a pipe byte by byte, so none of
  // the pack is consumed), then git index-pack stores its pack: one process, no temporary file.
  // A release is made, in this order of preference:
  // - recycled: when the host already keeps as many releases as it may, the oldest one that is
  //   neither live nor the previous one (the one the next prune would delete) is renamed out of sight
  //   and turned into the new revision by git's two-tree read-tree -m -u, which writes only the files
  //   that differ between the two: no directory to create, no tree to copy, nothing to prune later;
  // - warm: a hard-linked copy of the live release (cp -RlP: links, no attributes copied, symlinks as
  //   they are), then read-tree -m -u from the live revision;
  // - full: a checkout of every file (no usable live release, or the above failed their check).
  // git unlinks a path before writing it, and writes an index as a new file renamed over the old, so a
  // file shared with the live or a kept release is never changed in place. Whatever the way, the
  // release is verified against the revision before it is renamed to releases/SHA (the commit point)
  // and marked complete: every file must match its index (the manifest; by stat, re-hashed where stat
  // differs), none may be missing or extra (one walk: ls-files -o -m -d), and the index must hash to
  // the revision's tree (write-tree). The manifest is the release's own .tugboat-index: it moves with
  // the release (one rename, not two), and a prepare killed half-way leaves nothing outside
  // releases/.tmp-*, which the next one removes.
  // The step does not count the files it wrote: the engine does, in the staging repository, once for
  // each release made from.
  prepare: `
base=$2; sha=$3; tree=$6; keep=\${7:-0}; git="git --git-dir=$base/cache.git -c core.trustctime=false"
# the commands that write a manifest (.tugboat-index) write it for the deploy user alone (0600, whatever
# the umask): it lists every path of the release, which sits in what may be a web server's docroot
gi="$git -c core.sharedRepository=0600"
case $tree in *[!0-9a-f]*|"") echo "bad tree argument" >&2; exit 2;; esac
if [ "\${5:-}" = reset ] && [ -d "$base/cache.git" ]; then rm -rf "$base/cache.git" || exit 3; echo "cache reset"; fi
if [ ! -d "$base/cache.git/refs/tugboat" ]; then
  mkdir -p "$base/releases" || exit 3
  { [ -d "$base/cache.git" ] || git init -q --bare "$base/cache.git"; } && mkdir -p "$base/cache.git/refs/tugboat" || exit 3
fi
cd "$base" || exit 3
# whether the cache holds revision $1 as a release (a refs/tugboat/ ref, loose or packed); a bundle's
# base may also be a commit held without a ref (the upstream parent of a patched release): cat-file
have() {
  [ -f "cache.git/refs/tugboat/$1" ] && return 0
  [ -f cache.git/packed-refs ] || return 1
  while read -r s ref; do [ "$ref" = "refs/tugboat/$1" ] && return 0; done < cache.git/packed-refs
  return 1
}
if [ "$4" = 1 ]; then
  IFS= read -r line || line=""
  case $line in "# v2 git bundle"|"# v3 git bundle") ;; *) echo "could not read the bundle: no bundle header" >&2; exit 4;; esac
  named=""; lacks=""
  while IFS= read -r line && [ -n "$line" ]; do
    case $line in
      "$sha "*) named=1;;
      -*) p=\${line#-}; p=\${p%% *}; have "$p" || $git cat-file -e "$p^{commit}" 2>/dev/null || lacks=$p;;
    esac
  done
  [ -n "$named" ] || { echo "could not read the bundle: it does not name $sha" >&2; exit 4; }
  # built against a revision the host does not hold (its cache changed since the census): exit 4, so
  # the engine starts the cache afresh with a full bundle
  [ -z "$lacks" ] || { echo "could not read the bundle: it needs $lacks, which this host does not hold" >&2; exit 4; }
  $git index-pack --threads=1 --stdin --fix-thin >/dev/null 2>&1 || { echo "could not read the bundle" >&2; exit 4; }
  printf '%s\\n' "$sha" > "cache.git/refs/tugboat/$sha" || exit 3
elif ! have "$sha"; then
  echo "revision $sha is not in the cache" >&2; exit 4
fi
rel="releases/$sha"
if [ -f "$rel/.tugboat-complete" ]; then echo "state already"; exit 0; fi
tmp="$base/releases/.tmp-$sha-$$"; idx="$tmp/.tugboat-index"
for t in releases/.tmp-*; do [ -e "$t" ] && { rm -rf releases/.tmp-* || exit 3; }; break; done
verify() {
  out=$(GIT_INDEX_FILE="$idx" $git --work-tree="$tmp" ls-files -t -o -m -d --exclude='.tugboat-*' 2>&1) || { why="its files could not be listed"; return 1; }
  if [ -n "$out" ]; then
    c=0; r=0; o=0
    while IFS= read -r l; do case $l in "C "*) c=$((c + 1));; "R "*) r=$((r + 1));; *) o=$((o + 1));; esac; done <<EOF
$out
EOF
    why="files missing or differing from the revision ($((c - r)) differing, $r missing, $o extra)"; return 1
  fi
  [ "$(GIT_INDEX_FILE="$idx" $gi write-tree 2>/dev/null)" = "$tree" ] || { why="its manifest is not the revision's tree"; return 1; }
}
mode=""; why=""; from=""
prev=""; if cd -P current 2>/dev/null; then prev=\${PWD##*/}; cd "$base" || exit 3; fi
before=""; [ -f .tugboat-previous ] && read -r before < .tugboat-previous
old=""; n=0
if [ "$keep" -gt 0 ] 2>/dev/null && [ -n "$prev" ]; then
  for d in releases/*/; do
    [ -d "$d" ] || continue; n=$((n + 1)); s=\${d%/}; s=\${s##*/}
    case $s in "$prev"|"$before"|*[!0-9a-f]*) continue;; esac
    [ -f "$d.tugboat-complete" ] && [ -f "$d.tugboat-index" ] || continue
    if [ -z "$old" ] || [ "$d" -ot "releases/$old/" ]; then old=$s; fi
  done
  [ "$n" -ge "$keep" ] || old=""
fi
if [ -n "$old" ]; then
  if mv "releases/$old" "$tmp"; then
    if GIT_INDEX_FILE="$idx" $gi --work-tree="$tmp" read-tree -m -u "$old" "$sha" >/dev/null 2>&1 && verify; then mode=recycled; from=$old
    else echo "note could not reuse release $old: \${why:-it differs from its revision}"; rm -rf "$tmp"
    fi
  else echo "note could not reuse release $old: it could not be moved"
  fi
fi
if [ -n "$mode" ]; then :
elif [ -z "$prev" ]; then why="no live release"
elif [ ! -f "releases/$prev/.tugboat-complete" ]; then why="the live release $prev is missing or incomplete"
elif [ ! -f "releases/$prev/.tugboat-index" ]; then why="no manifest of the live release $prev"
elif ! cp -RlP "releases/$prev" "$tmp" 2>/dev/null; then why="could not link the live release $prev"
else
  # the markers are the live release's: unlinked, never written through (the index is replaced whole)
  rm -f "$tmp/.tugboat-complete" "$tmp/.tugboat-revision" || exit 3
  if ! GIT_INDEX_FILE="$idx" $gi --work-tree="$tmp" read-tree -m -u "$prev" "$sha" >/dev/null 2>&1; then why="the live release $prev differs from its revision"
  elif verify; then mode=warm; from=$prev
  else why="the warm copy failed its check: $why"
  fi
fi
if [ -z "$mode" ]; then
  echo "fallback $why"
  rm -rf "$tmp"; mkdir "$tmp" || exit 3
  GIT_INDEX_FILE="$idx" $gi read-tree "$sha" 2>/dev/null || { echo "revision $sha is not in the cache, or the cache is damaged" >&2; exit 4; }
  GIT_INDEX_FILE="$idx" $gi --work-tree="$tmp" checkout-index -a -f -u || exit 5
  verify || { echo "verify failed: $why" >&2; exit 6; }
  mode=full
fi
# the markers are this release's own files: a recycled release's were written by its own prepare, a
# warm copy's links to the live release's were removed above
printf '%s\\n' "$sha" > "$tmp/.tugboat-revision" || exit 3
[ ! -e "$rel" ] || rm -rf "$rel"
mv "$tmp" "$rel" || exit 3
: > "$rel/.tugboat-complete" || exit 3
set -- cache.git/objects/pack/*.pack
if [ "$#" -gt 40 ]; then
  # each deploy's pack is kept as it came; every 40, one pack of what the kept releases need
  set --; for r in cache.git/refs/tugboat/*; do s=\${r##*/}; [ -d "releases/$s" ] || set -- "$@" "$r"; done
  [ "$#" -eq 0 ] || rm -f "$@"
  $git repack -adq >/dev/null 2>&1 && echo "cache repacked"
fi
echo "state prepared $mode\${from:+ $from}"`,
  // $2 base, $3 sha, $4 restart command ("" for none), $5 releases to keep ("0": no pruning). Promote
  // (a temporary link renamed over current: atomic), restart, and prune (never the live or the previous
  // release) in one exec: a deploy's last step and a whole rollback cost one SSH channel a host. It
  // starts as few processes as it can (a rollback of 50 hosts is mostly process start-up): the live
  // release is read with cd -P, times with a builtin read of /proc/uptime, the previous release is
  // written to .tugboat-previous by the shell. When nothing is to be pruned (a rollback), the restart
  // command runs last, in this shell, after a "restart begin" line: a builtin restart costs no process
  // at all, and if it ends the shell itself (exit N), the step's exit status is the restart's. When a
  // prune follows, the restart runs in a subshell first. Either way its output goes to stderr, so it
  // can never forge a result line. A restart that hangs is killed with the whole step at the step's
  // deadline (see REMOTE_DEADLINE).
  activate: `
read -r t0 _ < /proc/uptime || t0=0.0; t0=\${t0%.*}\${t0#*.}0
cd "$2" || exit 3
[ -f "releases/$3/.tugboat-complete" ] || { echo "release $3 is not complete on this host" >&2; exit 4; }
old=""; if cd -P current 2>/dev/null; then old=\${PWD##*/}; cd "$2" || exit 3; fi
if [ "$old" != "$3" ]; then
  ln -sfn "releases/$3" ".current.tmp$$" && mv -T ".current.tmp$$" current || exit 3
  if [ -n "$old" ]; then printf '%s\\n' "$old" > .tugboat-previous || exit 3; fi
fi
read -r t1 _ < /proc/uptime || t1=0.0; t1=\${t1%.*}\${t1#*.}0
echo "promoted $old $((t1 - t0))"
n=0; if [ "$5" -gt 0 ] 2>/dev/null; then for d in releases/*/; do n=$((n + 1)); done; fi
if [ -n "$4" ]; then
  if [ "$n" -le "$5" ]; then
    echo "restart begin"; cd current || exit 3
    eval "$4" >&2; rc=$?
  else
    (cd current && eval "$4") >&2; rc=$?
  fi
  read -r t2 _ < /proc/uptime || t2=0.0; t2=\${t2%.*}\${t2#*.}0
  [ "$rc" -eq 0 ] || { echo "restart exit $rc $((t2 - t1))"; exit 0; }
  echo "restart ok $((t2 - t1))"
fi
[ "$n" -gt "$5" ] || exit 0
cd "$2/releases" || exit 0
cur=$3; prev=""; [ -f ../.tugboat-previous ] && read -r prev < ../.tugboat-previous
rm -rf .tmp-* 2>/dev/null
n=0
for s in $(ls -1t); do
  case $s in *[!0-9a-f]*) continue;; esac
  n=$((n + 1))
  [ "$n" -le "$5" ] && continue
  [ "$s" = "$cur" ] && continue
  [ "$s" = "$prev" ] && continue
  # ../indexes/SHA: where manifests were kept before they moved into their releases
  rm -rf "$s" ../indexes/"$s" && git --git-dir=../cache.git update-ref -d "refs/tugboat/$s" 2>/dev/null; echo "pruned $s"
done
exit 0`,
};

/**
 * ship: a deploy's whole work on one host in one exec, prepare then activate, one SSH channel a host
 * instead of two (a channel costs a host a session process and a login shell). $2 prepare's script,
 * $3 its deadline, $4-$9 prepare's arguments ($2-$7 above), $10 the restart command, $11 the releases to
 * keep. prepare runs as a child, exactly as the prepare step runs alone: under env -i and timeout(1),
 * its output straight to the step's. Only if it succeeded does this shell go on to activate, in the
 * login environment (the restart's, as for activate alone); if it failed, "prepare exit N" says so and
 * the step exits N. The engine follows the lines live: prepare's "state" line ends prepare (its deadline
 * was on the host), and activate's own deadline starts there.
 */
const SHIP = `
m=$1; prep=$2; t=$3; shift 3
${PREPARE_WRAPPER.join(" ")} "$t" /bin/sh -c "$prep" tugboat-prepare "$m" "$1" "$2" "$3" "$4" "$5" "$6"
rc=$?
[ "$rc" -eq 0 ] || { echo "prepare exit $rc"; exit "$rc"; }
set -- "$m" "$1" "$2" "$7" "$8"
${SCRIPTS.activate.trim()}`;

export interface StepOptions {
  /** The umask every step runs with, e.g. "022". */
  readonly umask: string;
  /** The step's deadline; prepare also carries it on the host (timeout(1)), and so does ship's prepare part. */
  readonly timeoutSec: number;
  /** A random marker for this run; output before it (login-file noise) is ignored. */
  readonly nonce: string;
}

/** The command line for a step: safe to hand to any login shell (sh, bash with a noisy .bashrc). */
export function stepCommand(step: StepName, args: readonly string[], o: StepOptions): string {
  if (!/^[0-7]{3,4}$/.test(o.umask)) throw new Error(`bad umask ${o.umask}`);
  const marker = `@@tugboat-${o.nonce}@@`;
  const light = LIGHT.has(step);
  const body = step === "ship" ? SHIP.trim() : SCRIPTS[step].trim();
  const script = `umask ${o.umask}; ${light ? `${HYGIENE}; ` : ""}${FRAME}\n${body}`;
  const deadline = String(Math.max(1, Math.ceil(o.timeoutSec)));
  if (step === "ship") {
    // prepare's script goes to the host as an argument, run by ship's shell under prepare's own wrapper
    const prepare = `umask ${o.umask}; set -u\n${SCRIPTS.prepare.trim()}`;
    return shellCommand(["exec", "/bin/sh", "-c", script, "tugboat-ship", marker, prepare, deadline, ...args]);
  }
  // Light steps skip env(1) and timeout(1).
  const wrapper = light ? [] : [...PREPARE_WRAPPER, deadline];
  return shellCommand(["exec", ...wrapper, "/bin/sh", "-c", script, `tugboat-${step}`, marker, ...args]);
}

/** The lines a step printed after its frame marker; null when the marker never came (it did not run). */
export function framed(output: string, nonce: string): string[] | null {
  const begin = `@@tugboat-${nonce}@@ begin\n`;
  const at = output.indexOf(begin);
  if (at < 0) return null;
  return output.slice(at + begin.length).split("\n").filter((l) => l.length > 0);
}

/** What census says about one host's deploy directory. */
export interface HostState {
  readonly current: string | null;
  readonly previous: string | null;
  readonly releases: ReadonlyArray<{ readonly sha: string; readonly complete: boolean }>;
  /** Commits the host's cache already holds (for incremental bundles). */
  readonly haves: readonly string[];
}

export function parseCensus(lines: readonly string[]): HostState {
  let current: string | null = null;
  let previous: string | null = null;
  const releases: Array<{ sha: string; complete: boolean }> = [];
  const haves: string[] = [];
  for (const line of lines) {
    const [key, a, b] = line.split(" ");
    if (key === "current" && a) current = a;
    else if (key === "previous" && a) previous = a;
    else if (key === "release" && a) releases.push({ sha: a, complete: b === "complete" });
    else if (key === "have" && a) haves.push(a);
  }
  return { current, previous, releases, haves };
}

/** What prepare says: the release was there already, or how it was made. */
export interface PrepareReport {
  readonly already: boolean;
  /**
   * recycled: from the oldest prunable release; warm: from a hard-linked copy of the live release;
   * full: every file checked out.
   */
  readonly mode: "recycled" | "warm" | "full" | null;
  /** The release it was made from (recycled, warm), null for a full checkout. */
  readonly from: string | null;
  /** Why a full checkout was made instead (null when recycled or warm, or when nothing was built). */
  readonly fallback: string | null;
  /** Why a prunable release could not be recycled (the release was then made another way). */
  readonly notes: readonly string[];
  readonly cacheReset: boolean;
  readonly repacked: boolean;
}

export function parsePrepare(lines: readonly string[]): PrepareReport {
  let already = false;
  let mode: PrepareReport["mode"] = null;
  let from: string | null = null;
  let fallback: string | null = null;
  let cacheReset = false;
  let repacked = false;
  const notes: string[] = [];
  for (const line of lines) {
    if (line === "state already") already = true;
    else if (line === "cache reset") cacheReset = true;
    else if (line === "cache repacked") repacked = true;
    else if (line.startsWith("note ")) notes.push(line.slice("note ".length));
    else if (line.startsWith("fallback ")) fallback = line.slice("fallback ".length);
    else if (line.startsWith("state prepared ")) {
      const [m, f] = line.slice("state prepared ".length).split(" ");
      mode = m === "recycled" || m === "warm" ? m : "full";
      from = f || null;
    }
  }
  return { already, mode, from, fallback: already ? null : fallback, notes, cacheReset, repacked };
}

/** What activate says: the release it replaced, and each phase's outcome with its duration (ms). */
export interface ActivateReport {
  readonly was: string | null;
  readonly promoteMs: number;
  /** null: no restart line (none configured, or it was killed at the step's deadline). */
  readonly restart: { readonly outcome: "ok" | "exit"; readonly code: number; readonly ms: number } | null;
  readonly pruned: readonly string[];
}

/**
 * Reads activate's lines. `exit` is how the step ended (its exit code, and how long it ran): a restart
 * that ran last in the step's own shell and ended that shell (`exit N`) printed no result line, and
 * its outcome is the step's exit status.
 */
export function parseActivate(lines: readonly string[], exit?: { readonly code: number; readonly ms: number }): ActivateReport | null {
  let promoted: { was: string | null; ms: number } | null = null;
  let restart: ActivateReport["restart"] = null;
  let begun = false;
  const pruned: string[] = [];
  for (const line of lines) {
    const [key, a, b, c] = line.split(" ");
    if (key === "promoted") promoted = { was: a || null, ms: Number(b) || 0 };
    else if (key === "restart" && a === "begin") begun = true;
    else if (key === "restart" && a === "ok") restart = { outcome: "ok", code: 0, ms: Number(b) || 0 };
    else if (key === "restart" && a === "exit") restart = { outcome: "exit", code: Number(b), ms: Number(c) || 0 };
    else if (key === "pruned" && a) pruned.push(a);
  }
  if (!promoted) return null;
  if (!restart && begun && exit) restart = { outcome: exit.code === 0 ? "ok" : "exit", code: exit.code, ms: Math.max(0, exit.ms - promoted.ms) };
  return { was: promoted.was, promoteMs: promoted.ms, restart, pruned };
}
