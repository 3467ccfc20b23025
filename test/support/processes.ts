// What runs on this machine, for tests that check a kill really happened (the fleet's hosts share its PIDs).
import { readdirSync, readFileSync } from "node:fs";

/** PIDs of processes whose command line is exactly `cmdline`, after giving a kill up to `graceMs` to land. */
export async function processesRunning(cmdline: string, graceMs = 3000): Promise<number[]> {
  const scan = () =>
    readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim() === cmdline;
        } catch {
          return false;
        }
      })
      .map(Number);
  for (const until = Date.now() + graceMs; scan().length > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
  return scan();
}
