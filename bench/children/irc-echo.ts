// Child process: the floor for the !log round trip. A raw IRC client (test/support/irc-test-client.ts)
// on ngircd port argv[2] joins argv[3] as argv[4] and repeats every PRIVMSG it sees there, unchanged,
// back into the channel: the same two hops through ngircd as a command and its reply, minus the bot.

import { connectClient } from "../../test/support/irc-test-client.js";
import { serveParent } from "../lib/child.js";

const port = Number(process.argv[2]);
const channel = process.argv[3] ?? "#floor";
const nick = process.argv[4] ?? "echo";
const MAX_ECHOES = 100_000;
const IDLE_MS = 120_000;

const client = await connectClient({ host: "127.0.0.1", port, nick });
await client.join(channel);
let echoed = 0;
let stopping = false;

void (async () => {
  for (; echoed < MAX_ECHOES && !stopping; echoed++) {
    const m = await client.waitFor((msg) => msg.command === "PRIVMSG" && msg.params[0] === channel && msg.nick !== nick, IDLE_MS).catch(() => null);
    if (m === null) return;
    client.say(channel, m.params[1] ?? "");
  }
})();

serveParent(
  { nick },
  { status: () => ({ echoed }) },
  async () => {
    stopping = true;
    await client.quit("bench over");
  },
);
