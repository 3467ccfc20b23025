// Permission checks: principals (anyone, identified, role:X, account:X, mask:GLOB) matched against a sender.
// Deny wins over allow; a per-channel rule replaces the command's rule in that channel.

import type { Config, Permission, Rule } from "../config/schema.js";
import { maskOf, type Sender } from "./port.js";

/** IRC case mapping (rfc1459): []\~ are the lower case of {}|^. */
export function ircLower(s: string): string {
  return s.toLowerCase().replace(/[[\]\\~]/g, (c) => ({ "[": "{", "]": "}", "\\": "|", "~": "^" })[c] ?? c);
}

export function globToRegExp(glob: string): RegExp {
  const body = ircLower(glob)
    .split("")
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${body}$`, "s");
}

export function maskMatches(glob: string, mask: string): boolean {
  return globToRegExp(glob).test(ircLower(mask));
}

export interface Decision {
  readonly allowed: boolean;
  /** Why, in words a chat user understands. */
  readonly reason: string;
}

export class Acl {
  constructor(private readonly config: Pick<Config, "roles" | "permissions">) {}

  private matches(principal: string, sender: Sender, seen: Set<string> = new Set()): boolean {
    if (principal === "anyone") return true;
    if (principal === "identified") return sender.account !== null;
    const [kind, ...rest] = principal.split(":");
    const value = rest.join(":");
    switch (kind) {
      case "account":
        return sender.account !== null && ircLower(sender.account) === ircLower(value);
      case "mask":
        return maskMatches(value, maskOf(sender));
      case "role": {
        if (seen.has(value)) return false; // a role that includes itself
        seen.add(value);
        return (this.config.roles[value] ?? []).some((p) => this.matches(p, sender, seen));
      }
      default:
        return false;
    }
  }

  ruleFor(permission: string, channel: string | null, fallback: Rule): Rule {
    const configured: Permission | undefined = this.config.permissions[permission];
    const where = channel ?? "private";
    const channelRule = configured?.channels[where] ?? Object.entries(configured?.channels ?? {}).find(([c]) => ircLower(c) === ircLower(where))?.[1];
    return channelRule ?? configured ?? fallback;
  }

  check(permission: string, channel: string | null, sender: Sender, fallback: Rule): Decision {
    const rule = this.ruleFor(permission, channel, fallback);
    const denied = rule.deny.find((p) => this.matches(p, sender));
    if (denied) return { allowed: false, reason: `denied by ${denied}` };
    if (rule.allow.some((p) => this.matches(p, sender))) return { allowed: true, reason: "allowed" };
    const who = sender.account ? `account ${sender.account}` : `${maskOf(sender)}, not identified`;
    const needs = rule.allow.length ? rule.allow.join(" or ") : "nobody is allowed";
    return { allowed: false, reason: `needs ${needs} (you are ${who})` };
  }
}
