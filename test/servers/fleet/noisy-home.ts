// The noisy host's view of the deploy user: bash as login shell (Debian's bash reads ~/.bashrc even for
// `ssh host cmd`) and startup files that print text and set `umask 077`, the "umask and .bashrc
// insanity" that broke deploys before (FIELD-NOTES "Deploying"). Only that host mounts this home.

import { chown, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { passwdWithShell, readPasswd, type DeployUser } from "./deploy-user.js";

/** Lines the noisy host's startup files print on stdout (and, for .bashrc, one on stderr). */
export const NOISE = {
  bashrc: "Welcome to noisy! (printed by ~/.bashrc)",
  bashrcStderr: "noisy: ~/.bashrc also writes to stderr",
  profile: "Last login: never (printed by ~/.profile)",
} as const;

export const NOISY_UMASK = "0077";

export async function writeNoisyHome(home: string, user: DeployUser): Promise<void> {
  const files: ReadonlyArray<[string, string]> = [
    [".bashrc", [`echo '${NOISE.bashrc}'`, `echo '${NOISE.bashrcStderr}' >&2`, "umask 077", ""].join("\n")],
    [".profile", [`echo '${NOISE.profile}'`, "umask 077", ""].join("\n")],
  ];
  for (const [name, text] of files) {
    const path = join(home, name);
    await writeFile(path, text, { mode: 0o644 });
    await chown(path, user.uid, user.gid);
  }
}

/** A copy of /etc/passwd in which the deploy user's shell is bash, to mount over it in that host. */
export async function writeNoisyPasswd(path: string, user: DeployUser): Promise<void> {
  await writeFile(path, passwdWithShell(await readPasswd(), user.name, "/bin/bash"), { mode: 0o644 });
}
