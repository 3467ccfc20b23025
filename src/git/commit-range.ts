// The shapes of a commit range and the pure parsers behind them: `git log -z` records in the
// LOG_FORMAT below, `git diff --shortstat`, the commit link template and the capped diff text.

/** A revision as people read it: its first 7 digits, or "nothing" for no release. */
export const shortSha = (sha: string | null) => (sha ? sha.slice(0, 7) : "nothing");

export interface CommitInfo {
  sha: string;
  short: string;
  author: string;
  subject: string;
  url: string | null;
}

export interface CommitRange {
  /** The upstream commit the range starts after (null: the range is just `to`). */
  from: string | null;
  to: string;
  /** Newest first; at most the `limit` asked for. */
  commits: CommitInfo[];
  /** All commits in the range, however many `commits` lists. */
  count: number;
  added: number;
  deleted: number;
  filesChanged: number;
}

/** Fields separated by US (0x1f); `git log -z` ends each record with NUL. */
export const LOG_FORMAT = "--format=%H%x1f%h%x1f%an%x1f%s";

export function commitLink(template: string | null, sha: string): string | null {
  return template === null ? null : template.replaceAll("{sha}", sha);
}

export function parseLog(output: string, urlTemplate: string | null): CommitInfo[] {
  const commits: CommitInfo[] = [];
  for (const record of output.split("\0")) {
    const [sha, short, author, subject] = record.replace(/^\n/, "").split("\x1f");
    if (sha === undefined || sha === "" || short === undefined) continue;
    commits.push({ sha, short, author: author ?? "", subject: subject ?? "", url: commitLink(urlTemplate, sha) });
  }
  return commits;
}

export interface ShortStat {
  filesChanged: number;
  added: number;
  deleted: number;
}

/** " 3 files changed, 10 insertions(+), 1 deletion(-)"; each part is left out when zero. */
export function parseShortstat(output: string): ShortStat {
  const count = (re: RegExp): number => Number(re.exec(output)?.[1] ?? 0);
  return {
    filesChanged: count(/(\d+) files? changed/),
    added: count(/(\d+) insertions?\(\+\)/),
    deleted: count(/(\d+) deletions?\(-\)/),
  };
}

/**
 * Cuts a diff to at most `maxBytes` bytes including the marker line, at a line boundary (so
 * never inside a UTF-8 character). `complete` says whether git's whole output is in `bytes`.
 */
export function capDiff(bytes: Buffer, complete: boolean, maxBytes: number, marker: string): string {
  if (complete && bytes.length <= maxBytes) return bytes.toString("utf8");
  const tail = `${marker}\n`;
  const room = maxBytes - Buffer.byteLength(tail);
  // lastIndexOf counts a negative offset from the end, so an empty room must not reach it.
  const cut = room > 0 ? bytes.lastIndexOf(0x0a, room - 1) : -1;
  const head = cut >= 0 ? bytes.subarray(0, cut + 1) : Buffer.alloc(0);
  return `${head.toString("utf8")}${tail}`;
}
