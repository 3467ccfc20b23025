// What a failed `git am` may say about a security patch: whitelisted one-line reasons only, so
// the subject, author and diff text in git's output never reach a message.
import { describe, expect, it } from "vitest";
import { PatchError, failureReason } from "../../src/git/security-patches.js";

const CONFLICT = `Applying: Fix SECRET-1 in login
Using index info to reconstruct a base tree...
M\tsrc/auth.php
Falling back to patching base and 3-way merge...
Auto-merging src/auth.php
CONFLICT (content): Merge conflict in src/auth.php
error: Failed to merge in the changes.
Patch failed at 0001 Fix SECRET-1 in login
hint: Use 'git am --show-current-patch=diff' to see the failed patch
`;

const NO_BASE = `Applying: Fix SECRET-2
error: patch failed: src/auth.php:12
error: src/auth.php: patch does not apply
error: sha1 information is lacking or useless (src/auth.php).
error: could not build fake ancestor
Patch failed at 0001 Fix SECRET-2
+ if ($SECRET) {
`;

describe("failureReason", () => {
  it.each([
    [CONFLICT, "conflict in src/auth.php"],
    [NO_BASE, "patch failed at src/auth.php:12; no base to merge with for src/auth.php"],
    ["error: new.php: already exists in index\n", "new.php already exists in index"],
    ["error: gone.php: does not exist in index\n", "gone.php does not exist in index"],
    ["Patch format detection failed.\n", "not a patch (format detection failed)"],
    ["Patch is empty.\n", "empty patch"],
    ["CONFLICT (modify/delete): x.php deleted in HEAD and modified in Fix SECRET-3.\n", "conflict (modify/delete)"],
    ["Applying: SECRET-4\n+ secret line\nsomething new\n", "git am failed (exit 128)"],
  ])("reduces git's output to a reason without patch text (%#)", (output, reason) => {
    const got = failureReason(output, 128);
    expect(got).toBe(reason);
    expect(got).not.toMatch(/SECRET/);
  });
});

describe("PatchError", () => {
  it("names the failed patch and counts the rest", () => {
    const e = new PatchError(
      [
        { name: "0001-a.patch", status: "applied" },
        { name: "0002-b.patch", status: "already-applied" },
        { name: "0003-c.patch", status: "failed", detail: "patch failed at x.php:3" },
      ],
      2,
      "main (0123456789)",
    );
    expect(e.message).toBe("security patch 0003-c.patch does not apply on main (0123456789): deploy stopped (1 applied, 1 already applied, 2 not tried)");
  });
});
