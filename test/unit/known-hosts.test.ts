import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { KnownHosts } from "../../src/fleet/known-hosts.js";

const keyA = Buffer.from("key-a-blob");
const keyB = Buffer.from("key-b-blob");
const b64 = (b: Buffer) => b.toString("base64");
const hashed = (name: string) => {
  const salt = Buffer.from("0123456789abcdefghij");
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
};

describe("KnownHosts", () => {
  const kh = new KnownHosts(
    [
      "# comment",
      `127.0.1.1 ssh-ed25519 ${b64(keyA)}`,
      `[127.0.1.2]:2222,[127.0.1.3]:2222 ssh-ed25519 ${b64(keyA)}`,
      `${hashed("[127.0.1.4]:2222")} ssh-ed25519 ${b64(keyB)}`,
      `*.eqiad.wmnet,!bad.eqiad.wmnet ssh-ed25519 ${b64(keyB)}`,
      `@revoked 127.0.1.9 ssh-ed25519 ${b64(keyA)}`,
      "garbage",
    ].join("\n"),
  );

  it.each([
    ["127.0.1.1", 22, keyA, "match"],
    ["127.0.1.1", 22, keyB, "mismatch"],
    ["127.0.1.1", 2222, keyA, "unknown"],
    ["127.0.1.3", 2222, keyA, "match"],
    ["127.0.1.4", 2222, keyB, "match"],
    ["127.0.1.4", 2222, keyA, "mismatch"],
    ["mw1001.eqiad.wmnet", 22, keyB, "match"],
    ["bad.eqiad.wmnet", 22, keyB, "unknown"],
    ["127.0.1.9", 22, keyA, "mismatch"],
    ["10.0.0.1", 22, keyA, "unknown"],
  ] as const)("%s:%i", (address, port, key, verdict) => {
    expect(kh.verify(address, port, key)).toBe(verdict);
  });
});
