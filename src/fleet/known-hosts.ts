// Pinned host keys from an OpenSSH known_hosts file (plain and hashed entries, [host]:port form).
// ssh2 accepts any key unless told otherwise: this is what it is told.

import { createHmac } from "node:crypto";

export interface KnownKey {
  readonly type: string;
  /** The key blob, base64 as written in known_hosts. */
  readonly blob: string;
}

export type KeyVerdict = "match" | "unknown" | "mismatch";

interface Entry {
  readonly matches: (name: string) => boolean;
  readonly key: KnownKey;
  readonly revoked: boolean;
}

function patternMatcher(pattern: string): (name: string) => boolean {
  if (pattern.startsWith("|1|")) {
    const [, , salt = "", hash = ""] = pattern.split("|");
    const key = Buffer.from(salt, "base64");
    return (name) => createHmac("sha1", key).update(name).digest("base64") === hash;
  }
  const globs = pattern.split(",").map((p) => {
    const negated = p.startsWith("!");
    const body = (negated ? p.slice(1) : p).replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return { negated, re: new RegExp(`^${body}$`, "i") };
  });
  return (name) => !globs.some((g) => g.negated && g.re.test(name)) && globs.some((g) => !g.negated && g.re.test(name));
}

export class KnownHosts {
  private readonly entries: Entry[] = [];

  constructor(text: string) {
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const parts = line.split(/\s+/);
      let marker: string | null = null;
      if (parts[0]?.startsWith("@")) marker = parts.shift()!;
      const [hosts, type, blob] = parts;
      if (!hosts || !type || !blob) continue;
      if (marker === "@cert-authority") continue; // certificates are not supported: pin keys
      this.entries.push({ matches: patternMatcher(hosts), key: { type, blob }, revoked: marker === "@revoked" });
    }
  }

  /** The name OpenSSH looks up: "host" on port 22, "[host]:port" otherwise. */
  static lookupName(address: string, port: number): string {
    return port === 22 ? address : `[${address}]:${port}`;
  }

  verify(address: string, port: number, blob: Buffer): KeyVerdict {
    const name = KnownHosts.lookupName(address, port);
    const given = blob.toString("base64");
    const candidates = this.entries.filter((e) => e.matches(name));
    if (candidates.some((e) => e.revoked && e.key.blob === given)) return "mismatch";
    if (candidates.some((e) => !e.revoked && e.key.blob === given)) return "match";
    return candidates.some((e) => !e.revoked) ? "mismatch" : "unknown";
  }
}
