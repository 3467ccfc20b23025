// Names and addresses of a fleet's hosts, decided before anything starts: web01, web02, ... on
// 127.0.1.1, 127.0.1.2, ..., then the requested special hosts on the addresses after them.

export type HostRole = "normal" | "tarpit" | "hanging" | "noisy" | "wrongKey";

export interface SpecialHosts {
  /** Accepts TCP and never sends a byte. */
  readonly tarpit?: boolean;
  /** A normal host with /srv/HANG, whose restart command the engine's tests make hang. */
  readonly hangingRestart?: boolean;
  /** The deploy user's shell is bash there, and ~/.bashrc and ~/.profile print text and set umask 077. */
  readonly noisyBashrc?: boolean;
  /** Its host key does not match the fleet's known_hosts. */
  readonly wrongHostKey?: boolean;
}

export interface PlannedHost {
  readonly name: string;
  readonly address: string;
  readonly role: HostRole;
}

export const MAX_HOSTS = 200;

const SPECIALS: ReadonlyArray<[keyof SpecialHosts, HostRole, string]> = [
  ["tarpit", "tarpit", "tarpit"],
  ["hangingRestart", "hanging", "hanging"],
  ["noisyBashrc", "noisy", "noisy"],
  ["wrongHostKey", "wrongKey", "wrongkey"],
];

export function planFleet(hosts: number, special: SpecialHosts = {}): PlannedHost[] {
  if (!Number.isInteger(hosts) || hosts < 0 || hosts > MAX_HOSTS) {
    throw new Error(`a test fleet has 0 to ${MAX_HOSTS} normal hosts, not ${hosts}`);
  }
  const named: Array<[string, HostRole]> = Array.from({ length: hosts }, (_, i) => [`web${String(i + 1).padStart(2, "0")}`, "normal"]);
  for (const [option, role, name] of SPECIALS) if (special[option]) named.push([name, role]);
  // At most 204 hosts: 127.0.1.1-204 never reaches .0 or .255, which many tools treat as special.
  return named.map(([name, role], i) => ({ name, role, address: `127.0.1.${i + 1}` }));
}
