// Checks the integration harness itself against a real ngircd: two raw clients talk in a channel in
// both server modes (fast, and ngircd's default flood penalties), the server survives SIGKILL and a
// restart on the same port, line-length limits behave as the bot will meet them, and configtest errors surface.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startNgircd, type NgircdServer } from "../servers/ngircd.js";
import { connectClient, parseIrcLine, type IrcTestClient, type ParsedIrcMessage } from "../support/irc-test-client.js";

const MULTIBYTE = "héllo wörld — déploiement ☕ 🚢 日本語 ok";
const SLOW = { timeout: 30_000 };

describe.each([
  { mode: "fast", fast: true },
  { mode: "default penalties", fast: false },
])("ngircd harness ($mode)", ({ fast }) => {
  let server: NgircdServer | undefined;
  let open: IrcTestClient[] = [];
  let nickCounter = 0;

  function running(): NgircdServer {
    if (!server) throw new Error("ngircd did not start (see beforeAll)");
    return server;
  }

  /** Unique nicks per test: a nick freed by destroy() may linger server-side for a moment. */
  async function human(base: string): Promise<IrcTestClient> {
    const s = running();
    const client = await connectClient({ host: s.host, port: s.port, nick: `${base}${++nickCounter}` });
    open.push(client);
    return client;
  }

  const privmsgFrom =
    (nick: string) =>
    (m: ParsedIrcMessage): boolean =>
      m.command === "PRIVMSG" && m.nick === nick;

  beforeAll(async () => {
    server = await startNgircd({ fast });
  }, 30_000);

  afterEach(() => {
    for (const client of open) client.destroy();
    open = [];
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("relays a multibyte channel message from one client to another", SLOW, async () => {
    const alice = await human("alice");
    const bob = await human("bob");
    await alice.join("#test");
    await bob.join("#test");

    const since = bob.mark();
    alice.say("#test", MULTIBYTE);
    const got = await bob.waitFor(privmsgFrom(alice.nick), { since });

    expect(got.params).toEqual(["#test", MULTIBYTE]);
    expect(got.prefix).toMatch(new RegExp(`^${alice.nick}!~?${alice.nick}@127\\.0\\.0\\.1$`));
    expect(got.bytes).toBe(Buffer.byteLength(got.raw, "utf8") + 2);
    expect(alice.messages.some((m) => m.command === "PRIVMSG")).toBe(false); // no echo to the sender
  });

  it("relays a notice to a nick", SLOW, async () => {
    const alice = await human("alice");
    const bob = await human("bob");
    alice.notice(bob.nick, "psst ✓");
    const got = await bob.waitFor((m) => m.command === "NOTICE" && m.nick === alice.nick);
    expect(got.params).toEqual([bob.nick, "psst ✓"]);
  });

  it("cuts a relayed line to 512 bytes, and drops a client that sends 513", SLOW, async () => {
    const alice = await human("alice");
    const bob = await human("bob");
    await alice.join("#test");
    await bob.join("#test");

    // The longest line a client may send; relayed with a "nick!user@host" prefix it no longer fits,
    // and ngircd cuts it (ending it with "[CUT]") rather than dropping it.
    const head = "PRIVMSG #test :";
    const text = "x".repeat(512 - 2 - head.length);
    alice.say("#test", text);
    const relayed = await bob.waitFor(privmsgFrom(alice.nick));
    expect(relayed.bytes).toBeLessThanOrEqual(512);
    expect((relayed.params[1] ?? "").length).toBeLessThan(text.length);

    alice.say("#test", `${text}y`);
    const error = await alice.waitFor((m) => m.command === "ERROR");
    expect(error.params[0]).toMatch(/Request too long/);
    await alice.closed;
  });

  it("survives SIGKILL: clients are dropped, and restart() serves again on the same port", SLOW, async () => {
    const s = running();
    const port = s.port;
    const before = await human("alice");
    await before.join("#test");

    await s.kill();
    await before.closed;
    expect(before.isClosed).toBe(true);

    await s.restart();
    expect(s.port).toBe(port);
    const alice = await human("alice");
    const bob = await human("bob");
    await alice.join("#test");
    await bob.join("#test");
    alice.say("#test", "back after the crash 🚢");
    const got = await bob.waitFor(privmsgFrom(alice.nick));
    expect(got.params[1]).toBe("back after the crash 🚢");
    expect(s.logs()).toContain("killed by SIGKILL");
  });

  it(fast ? "relays a burst of 20 lines at once" : "paces a burst of 10 lines to 3 a second (flood penalties)", SLOW, async () => {
    const alice = await human("alice");
    const bob = await human("bob");
    await alice.join("#test");
    await bob.join("#test");

    const count = fast ? 20 : 10;
    const since = bob.mark();
    const started = Date.now();
    alice.burst(Array.from({ length: count }, (_, i) => `PRIVMSG #test :line ${i}`));
    await bob.waitFor((m) => privmsgFrom(alice.nick)(m) && m.params[1] === `line ${count - 1}`, { since, timeoutMs: 20_000 });
    const elapsed = Date.now() - started;

    const lines = bob.messages.slice(since).filter(privmsgFrom(alice.nick));
    expect(lines.map((m) => m.params[1])).toEqual(Array.from({ length: count }, (_, i) => `line ${i}`));
    // ngircd handles 3 commands per read and, if more are waiting, delays the rest to a later second
    // (3 lines a second): 10 lines need 3 second boundaries. MaxPenaltyTime = 0 disables that.
    if (fast) expect(elapsed).toBeLessThan(1_000);
    else expect(elapsed).toBeGreaterThan(1_000);
  });
});

describe("ngircd harness: configuration", () => {
  it("rejects a config that ngircd --configtest complains about", SLOW, async () => {
    await expect(startNgircd({ extraConfig: "[Limits]\nMaxBogusThings = 3" })).rejects.toThrow(/Unknown variable "MaxBogusThings"/);
  });
});

describe("parseIrcLine", () => {
  const cases: ReadonlyArray<[string, Omit<ParsedIrcMessage, "raw">]> = [
    ["PING :irc.tugboat.test", { prefix: null, nick: null, command: "PING", params: ["irc.tugboat.test"], tags: {} }],
    [
      ":alice!~a@127.0.0.1 PRIVMSG #test :héllo  wörld :)",
      { prefix: "alice!~a@127.0.0.1", nick: "alice", command: "PRIVMSG", params: ["#test", "héllo  wörld :)"], tags: {} },
    ],
    [
      ":irc.tugboat.test 005 bob NICKLEN=30 PENALTY :are supported",
      { prefix: "irc.tugboat.test", nick: null, command: "005", params: ["bob", "NICKLEN=30", "PENALTY", "are supported"], tags: {} },
    ],
    [
      "@time=2024-01-01T00:00:00Z;msgid=a\\sb\\:c\\\\;+draft/x :bob privmsg #c :",
      {
        prefix: "bob",
        nick: "bob",
        command: "PRIVMSG",
        params: ["#c", ""],
        tags: { time: "2024-01-01T00:00:00Z", msgid: "a b;c\\", "+draft/x": "" },
      },
    ],
    ["MODE  #c   +o  bob", { prefix: null, nick: null, command: "MODE", params: ["#c", "+o", "bob"], tags: {} }],
    [":nick@host QUIT", { prefix: "nick@host", nick: "nick", command: "QUIT", params: [], tags: {} }],
  ];

  it.each(cases)("parses %s", (raw, expected) => {
    expect(parseIrcLine(raw)).toEqual({ raw, ...expected });
  });

  it("keeps a __proto__ tag as data", () => {
    const msg = parseIrcLine("@__proto__=x PING :a");
    expect(Object.getOwnPropertyDescriptor(msg.tags, "__proto__")?.value).toBe("x");
    expect(Object.getPrototypeOf(msg.tags)).toBe(Object.prototype);
  });
});
