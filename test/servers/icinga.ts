// Starts a real Icinga 2 (Debian package icinga2) headless: its own config, state and log under a temp
// dir (constants override the packaged paths; run as root, no API listener, no feature files), one
// host and one service whose check exits with the code in a file the test sets (0 OK, 1 WARNING,
// 2 CRITICAL), checked every second, with a Notification whose NotificationCommand is the script
// under test (contrib/icinga2/tugboat-notify), given the environment contrib/icinga2/tugboat.conf gives it.

import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDebianPackage } from "./ensure-package.js";
import { startDaemon } from "./daemon.js";

export interface IcingaServer {
  /** The service's next check result: 0 OK, 1 WARNING, 2 CRITICAL. */
  setState(code: 0 | 1 | 2, output: string): Promise<void>;
  /** Icinga's own log (notifications sent, commands that failed). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

const q = (s: string) => JSON.stringify(s); // Icinga DSL strings take JSON escapes

export async function startIcinga(o: { script: string; host: string; service: string; env: Record<string, string> }): Promise<IcingaServer> {
  const binary = await ensureDebianPackage("icinga2", "icinga2");
  const dir = await mkdtemp(join(tmpdir(), "tugboat-icinga-"));
  for (const d of ["data", "log", "cache", "spool", "run"]) await mkdir(join(dir, d));
  const check = join(dir, "check.sh");
  // One file, replaced by rename, so a check never sees a new code with the old output.
  await writeFile(check, '#!/bin/sh\n# prints all but the first line of "result" and exits with the first\nf="$(dirname "$0")/result"\nexec 3<"$f"\nread -r code <&3\ncat <&3\nexit "$code"\n');
  await chmod(check, 0o755);
  await writeFile(join(dir, "result"), "0\nOK\n");
  const macros: Record<string, string> = {
    NOTIFICATIONTYPE: "$notification.type$", HOSTNAME: "$host.name$", HOSTDISPLAYNAME: "$host.display_name$", HOSTSTATE: "$host.state$",
    HOSTOUTPUT: "$host.output$", SERVICEDESC: "$service.name$", SERVICEDISPLAYNAME: "$service.display_name$", SERVICESTATE: "$service.state$", SERVICEOUTPUT: "$service.output$",
  };
  const env = Object.entries({ ...o.env, ...macros }).map(([k, v]) => `    ${k} = ${q(v)}`).join("\n");
  const config = `
object CheckerComponent "checker" { }
object NotificationComponent "notification" { enable_ha = false }
object FileLogger "file" { path = ${q(join(dir, "log", "icinga2.log"))}; severity = "information" }
object IcingaApplication "app" { }
object CheckCommand "fixture" { command = [ ${q(check)} ] }
object CheckCommand "up" { command = [ "/bin/true" ] }
object Host ${q(o.host)} { check_command = "up"; check_interval = 1s; retry_interval = 1s; max_check_attempts = 1 }
object Service ${q(o.service)} { host_name = ${q(o.host)}; check_command = "fixture"; check_interval = 1s; retry_interval = 1s; max_check_attempts = 1 }
object User "tugboat" { enable_notifications = true }
object NotificationCommand "tugboat" {
  command = [ ${q(o.script)} ]
  env = {
${env}
  }
}
object Notification "tugboat" {
  host_name = ${q(o.host)}; service_name = ${q(o.service)}; command = "tugboat"; users = [ "tugboat" ]
  types = [ Problem, Recovery ]; states = [ OK, Warning, Critical, Unknown ]; interval = 0
}
`;
  await writeFile(join(dir, "icinga2.conf"), config);
  const defines = [["RunAsUser", "root"], ["RunAsGroup", "root"], ["DataDir", "data"], ["LogDir", "log"], ["CacheDir", "cache"], ["SpoolDir", "spool"], ["InitRunDir", "run"]].flatMap(([k, v]) => ["-D", `${k}=${k!.startsWith("RunAs") ? v : join(dir, v!)}`]);
  const logFile = join(dir, "log", "icinga2.log");
  const daemon = await startDaemon("icinga2", binary, ["daemon", "-c", join(dir, "icinga2.conf"), ...defines], async () => (await readFile(logFile, "utf8")).includes("Activated all objects"), { readyMs: 30_000 });
  return {
    async setState(code, output) {
      await writeFile(join(dir, "result.new"), `${code}\n${output}\n`);
      await rename(join(dir, "result.new"), join(dir, "result"));
    },
    log: async () => `${await readFile(logFile, "utf8").catch(() => "")}\n${daemon.logs()}`,
    async stop() {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
