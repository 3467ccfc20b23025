// Runs once before the suite: installs the servers the integration tests need (root may install
// Debian packages on a fresh machine) and builds the CLI the end-to-end tests run.
import { execFileSync } from "node:child_process";
import { ensureDebianPackage } from "./ensure-package.js";

export default async function setup(): Promise<void> {
  await ensureDebianPackage("ngircd", "ngircd");
  execFileSync("npm", ["run", "build", "--silent"], { stdio: "inherit" });
}
