// Runs once before the suite: installs the servers and tools the integration tests need (root may
// install Debian packages on a fresh machine; one apt run at a time) and builds the CLI the
// end-to-end tests run.
import { execFileSync } from "node:child_process";
import { ensureDebianPackage } from "./ensure-package.js";
import { ensureFleetTools } from "./fleet/fleet-tools.js";

export default async function setup(): Promise<void> {
  await ensureDebianPackage("ngircd", "ngircd");
  await ensureDebianPackage("openssl", "openssl");
  await ensureFleetTools();
  execFileSync("npm", ["run", "build", "--silent"], { stdio: "inherit" });
}
