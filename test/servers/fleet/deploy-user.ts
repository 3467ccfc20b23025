// The unprivileged account every simulated host lets the deploy engine in as: created with useradd when
// missing (shell /bin/sh, password field "*" so sshd without PAM does not see a locked account), shared
// by all hosts, each of which bind-mounts its own home directory over the real one.

import { chown, mkdir, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { output } from "./fleet-tools.js";

export interface DeployUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export const DEPLOY_USER = "tugboat-deploy";
const PASSWD = "/etc/passwd";
const CREATE_ATTEMPTS = 20;

export async function ensureDeployUser(useradd: string, name = DEPLOY_USER): Promise<DeployUser> {
  for (let attempt = 1; ; attempt++) {
    const found = findUser(await readFile(PASSWD, "utf8"), name);
    if (found) {
      // The home is only a mount point (each host mounts its own over it) but must exist.
      await mkdir(found.home, { recursive: true, mode: 0o755 });
      await chown(found.home, found.uid, found.gid);
      return found;
    }
    try {
      await output(useradd, ["--no-create-home", "--home-dir", `/home/${name}`, "--shell", "/bin/sh", "--password", "*", "--comment", "tugboat test fleet", name]);
    } catch (err) {
      // Another vitest worker may be creating the same user (useradd then fails on the passwd lock or
      // "already exists"): look again, and give up only if the user never appears.
      if (attempt >= CREATE_ATTEMPTS) throw err;
      await sleep(100 * attempt);
    }
  }
}

export function findUser(passwd: string, name: string): DeployUser | null {
  for (const line of passwd.split("\n")) {
    const [user, , uid, gid, , home] = line.split(":");
    if (user === name && uid !== undefined && gid !== undefined && home) {
      return { name, uid: Number(uid), gid: Number(gid), home };
    }
  }
  return null;
}

/** /etc/passwd with `name`'s login shell replaced: bind-mounted over /etc/passwd in one host only. */
export function passwdWithShell(passwd: string, name: string, shell: string): string {
  let replaced = false;
  const lines = passwd.split("\n").map((line) => {
    const fields = line.split(":");
    if (fields[0] !== name || fields.length !== 7) return line;
    replaced = true;
    return [...fields.slice(0, 6), shell].join(":");
  });
  if (!replaced) throw new Error(`user ${name} not found in ${PASSWD}`);
  return lines.join("\n");
}

export async function readPasswd(): Promise<string> {
  return readFile(PASSWD, "utf8");
}
