// The fixed scripts a host runs, one per step, and the framing that makes their output trustworthy.
// Every step runs as `env -i ... timeout ... /bin/sh -c SCRIPT` with an explicit umask: nothing from
// login files (.bashrc output, umask, exported variables) reaches the step, and text printed before
// the frame marker is ignored. Arguments are positional ($2...), quoted by shellQuote; never spliced.

import { shellCommand } from "./quote.js";

export type StepName = "census" | "prepare" | "promote" | "restart" | "prune";

const PRELUDE = `umask "$UMASK"; printf '%s begin\\n' "$1"; printf '%s begin\\n' "$1" >&2; set -u`;

const SCRIPTS: Record<StepName, string> = {
  // $2 base
  census: `
cd "$2" 2>/dev/null || { echo "nobase"; exit 0; }
cur=$(readlink current 2>/dev/null || true); echo "current \${cur##*/}"
prev=$(readlink previous 2>/dev/null || true); echo "previous \${prev##*/}"
for d in releases/*/; do
  [ -d "$d" ] || continue; s=\${d%/}; s=\${s##*/}
  if [ -f "$d.tugboat-complete" ]; then echo "release $s complete"; else echo "release $s incomplete"; fi
done
[ -d cache.git ] && git --git-dir=cache.git for-each-ref --format='have %(objectname)' refs/tugboat/ 2>/dev/null
exit 0`,
  // $2 base, $3 sha, $4 "1" when a git bundle comes on stdin
  prepare: `
base=$2; sha=$3; git="git --git-dir=$base/cache.git"
mkdir -p "$base/releases" || exit 3
[ -d "$base/cache.git" ] || git init -q --bare "$base/cache.git" || exit 3
if [ "$4" = 1 ]; then
  b="$base/cache.git/incoming-$$.bundle"
  cat > "$b" || exit 3
  $git fetch -q "$b" "+$sha:refs/tugboat/$sha" || { rm -f "$b"; echo "could not read the bundle" >&2; exit 4; }
  rm -f "$b"
fi
$git cat-file -e "$sha^{commit}" 2>/dev/null || { echo "revision $sha is not in the cache" >&2; exit 4; }
$git update-ref "refs/tugboat/$sha" "$sha" || exit 3
rel="$base/releases/$sha"
if [ -f "$rel/.tugboat-complete" ]; then echo "state already"; exit 0; fi
tmp="$base/releases/.tmp-$sha-$$"
rm -rf "$tmp" "$tmp.index"; mkdir "$tmp" || exit 3
GIT_INDEX_FILE="$tmp.index" $git read-tree "$sha" || exit 5
GIT_INDEX_FILE="$tmp.index" $git --work-tree="$tmp" checkout-index -a -f || exit 5
want=$(GIT_INDEX_FILE="$tmp.index" $git ls-files | wc -l)
have=$(cd "$tmp" && find . \\( -type f -o -type l \\) | wc -l)
rm -f "$tmp.index"
[ "$want" -eq "$have" ] || { echo "verify failed: $have of $want files" >&2; exit 6; }
printf '%s\\n' "$sha" > "$tmp/.tugboat-revision" || exit 3
rm -rf "$rel"
mv "$tmp" "$rel" || exit 3
: > "$rel/.tugboat-complete" || exit 3
echo "state prepared $want"`,
  // $2 base, $3 sha: atomic switch (a temporary link renamed over current)
  promote: `
cd "$2" || exit 3
[ -f "releases/$3/.tugboat-complete" ] || { echo "release $3 is not complete on this host" >&2; exit 4; }
old=$(readlink current 2>/dev/null || true)
if [ "$old" != "releases/$3" ]; then
  if [ -n "$old" ]; then ln -sfn "$old" ".previous.tmp$$" && mv -T ".previous.tmp$$" previous || exit 3; fi
  ln -sfn "releases/$3" ".current.tmp$$" && mv -T ".current.tmp$$" current || exit 3
fi
echo "was \${old##*/}"`,
  // $2 base, $3 the app's restart command (operator configuration, run in the live release)
  restart: `
cd "$2/current" || exit 3
sh -c "$3"`,
  // $2 base, $3 releases to keep: never the live or the previous one
  prune: `
cd "$2/releases" 2>/dev/null || exit 0
cur=$(readlink ../current 2>/dev/null || true); cur=\${cur##*/}
prev=$(readlink ../previous 2>/dev/null || true); prev=\${prev##*/}
rm -rf .tmp-* 2>/dev/null
n=0
for s in $(ls -1t); do
  case $s in *[!0-9a-f]*) continue;; esac
  n=$((n + 1))
  [ "$n" -le "$3" ] && continue
  [ "$s" = "$cur" ] && continue
  [ "$s" = "$prev" ] && continue
  rm -rf "$s" && git --git-dir=../cache.git update-ref -d "refs/tugboat/$s" 2>/dev/null; echo "pruned $s"
done
exit 0`,
};

export interface StepOptions {
  /** The umask every step runs with, e.g. "022". */
  readonly umask: string;
  /** Remote deadline: timeout(1) kills the step's whole process group after this. */
  readonly timeoutSec: number;
  /** A random marker for this run; output before it (login-file noise) is ignored. */
  readonly nonce: string;
}

/** The command line for a step: safe to hand to any login shell (sh, bash with a noisy .bashrc). */
export function stepCommand(step: StepName, args: readonly string[], o: StepOptions): string {
  if (!/^[0-7]{3,4}$/.test(o.umask)) throw new Error(`bad umask ${o.umask}`);
  const marker = `@@tugboat-${o.nonce}@@`;
  const script = `${PRELUDE}\n${SCRIPTS[step].trim()}`;
  return shellCommand([
    "exec", "/usr/bin/env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", `UMASK=${o.umask}`,
    "timeout", "-k", "5", String(Math.max(1, Math.ceil(o.timeoutSec))),
    "/bin/sh", "-c", script, `tugboat-${step}`, marker, ...args,
  ]);
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
