// Picks the one TCP port all of a fleet's hosts listen on (each on its own address): a random port below
// Linux's ephemeral range (32768+, where outgoing connections take theirs), free on every address.

import { createServer, type Server } from "node:net";

const LOW = 20_000;
const HIGH = 32_000;
const ATTEMPTS = 20;

export async function pickFleetPort(addresses: readonly string[]): Promise<number> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    const bound = await Promise.allSettled(addresses.map((address) => listen(address, port)));
    await Promise.all(bound.map((r) => (r.status === "fulfilled" ? close(r.value) : undefined)));
    if (bound.every((r) => r.status === "fulfilled")) return port;
  }
  throw new Error(`no port in ${LOW}-${HIGH} was free on all of ${addresses.length} fleet addresses after ${ATTEMPTS} tries`);
}

function listen(address: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, address, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
