// The embedded default's demo app: a small git repository created once in the data directory, so a
// newcomer can deploy it to the local demo fleet at once (and commit to it to deploy a change).

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const FILES: Record<string, string> = {
  "README.md": "# demo\n\nThe demo app tugboat deploys to its local demo fleet. Commit here, then deploy the change.\n",
  "public/index.html": "<!doctype html>\n<title>demo</title>\n<h1>Hello from the demo app</h1>\n",
  "config/app.ini": "[app]\nworkers = 4\n",
};

export function ensureDemoRepo(dir: string): void {
  if (existsSync(join(dir, ".git"))) return;
  mkdirSync(dir, { recursive: true });
  const env = { ...process.env, GIT_AUTHOR_NAME: "tugboat demo", GIT_AUTHOR_EMAIL: "demo@tugboat.invalid", GIT_COMMITTER_NAME: "tugboat demo", GIT_COMMITTER_EMAIL: "demo@tugboat.invalid" };
  const git = (...args: string[]) => execFileSync("git", ["-C", dir, ...args], { env, stdio: ["ignore", "ignore", "pipe"] });
  git("init", "-q", "-b", "main");
  for (const [path, text] of Object.entries(FILES)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  git("add", "-A");
  git("commit", "-qm", "Demo app: first version");
  writeFileSync(join(dir, "config/app.ini"), "[app]\nworkers = 8\n");
  git("commit", "-qam", "Demo app: more workers");
}
