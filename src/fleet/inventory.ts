// The inventory: an app's targets (host names and group names) resolved to hosts, in config order.

import type { AppConfig, FleetConfig } from "../config/schema.js";
import type { Host } from "./remote-shell.js";

export function resolveHosts(fleet: FleetConfig, app: Pick<AppConfig, "targets">): Host[] {
  const wanted = new Set(app.targets);
  return fleet.hosts
    .filter((h) => wanted.has(h.name) || h.groups.some((g) => wanted.has(g)))
    .map((h) => ({ name: h.name, address: h.address, port: h.port, user: h.user ?? fleet.ssh.user, groups: h.groups }));
}
