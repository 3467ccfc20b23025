// The ChatPort contract: the same assertions on FakeChat, ConsoleChat and IrcFrameworkChat (over a
// real ngircd), so the fake used by unit tests cannot drift from the adapters.
import { PassThrough } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsoleChat } from "../../src/chat/console-chat.js";
import { IrcFrameworkChat } from "../../src/chat/irc-framework-chat.js";
import type { ChatPort, IncomingMessage } from "../../src/chat/port.js";
import { parseConfigText } from "../../src/config/load.js";
import { FakeChat } from "../fakes/fake-chat.js";
import { startNgircd, type NgircdServer } from "../servers/ngircd.js";
import { until } from "../support/bot.js";
import { connectClient, type IrcTestClient } from "../support/irc-test-client.js";

interface Harness {
  chat: ChatPort;
  /** A person says text in the channel. */
  say(text: string): Promise<void>;
  /** What the person saw the bot send to the channel: [text, notice]. */
  seen(): Array<[string, boolean]>;
  close(): Promise<void>;
}

const CHANNEL = "#operations";
let server: NgircdServer;
beforeAll(async () => {
  server = await startNgircd({ fast: true });
});
afterAll(() => server.stop());

const harnesses: Record<string, () => Promise<Harness>> = {
  fake: async () => {
    const chat = new FakeChat();
    return {
      chat,
      say: (text) => chat.deliver(CHANNEL, text, { nick: "alice" }),
      seen: () => chat.sent.filter((l) => l.target === CHANNEL).map((l) => [l.text, l.notice]),
      close: async () => {},
    };
  },
  console: async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let text = "";
    output.on("data", (d: Buffer) => (text += d.toString("utf8")));
    const chat = new ConsoleChat({ input, output, botNick: "tugboat", userNick: "alice", channel: CHANNEL, interactive: false, onEnd: () => {} });
    return {
      chat,
      say: async (t) => void input.write(`${t}\n`),
      seen: () =>
        text.split("\n").flatMap((l): Array<[string, boolean]> => {
          const m = /^#operations (<tugboat>|-tugboat-) (.*)$/.exec(l);
          return m ? [[m[2]!, m[1] === "-tugboat-"]] : [];
        }),
      close: async () => void input.end(),
    };
  },
  irc: async () => {
    const config = parseConfigText(JSON.stringify({ chat: "irc", irc: { host: server.host, port: server.port, tls: false, nick: "tugboat", channels: [CHANNEL] } }), "t.json");
    const chat = new IrcFrameworkChat(config.irc!, { password: null, saslPassword: null, nickservPassword: null }, pino({ level: "silent" }));
    let alice: IrcTestClient | undefined;
    return {
      chat,
      say: async (t) => {
        alice ??= await connectClient({ host: server.host, port: server.port, nick: "alice" });
        if (!alice.messages.some((m) => m.command === "JOIN")) await alice.join(CHANNEL);
        alice.say(CHANNEL, t);
      },
      seen: () => (alice?.messages ?? []).filter((m) => m.nick === "tugboat" && (m.command === "PRIVMSG" || m.command === "NOTICE") && m.params[0] === CHANNEL).map((m) => [m.params[1]!, m.command === "NOTICE"]),
      close: async () => {
        alice?.destroy();
        await chat.stop();
      },
    };
  },
};

describe.each(Object.keys(harnesses))("ChatPort contract: %s", (kind) => {
  it("connects, receives what a person says, and delivers lines and notices in order, whole", async () => {
    const h = await harnesses[kind]!();
    const received: IncomingMessage[] = [];
    h.chat.onMessage((m) => void received.push(m));
    await h.chat.start();
    try {
      await until(() => h.chat.status().connected, 10_000, "connected");
      expect(h.chat.status()).toMatchObject({ nick: "tugboat", onPrimaryNick: true });
      expect(h.chat.isChannel(CHANNEL)).toBe(true);
      expect(h.chat.isChannel("alice")).toBe(false);
      await h.say("hello from alice");
      await until(() => received.length > 0, 5000, "message received");
      expect(received[0]).toMatchObject({ type: "privmsg", target: CHANNEL, text: "hello from alice", sender: { nick: "alice" } });

      const budget = h.chat.budget(CHANNEL, false);
      expect(budget).toBeGreaterThan(300);
      // Exactly the budget, in two-byte characters: a server truncating an over-long line would break it.
      const full = "é".repeat(Math.floor(budget / 2)) + (budget % 2 ? "x" : "");
      expect(Buffer.byteLength(full)).toBe(budget);
      h.chat.send(CHANNEL, "first line");
      h.chat.send(CHANNEL, "a notice", { notice: true });
      h.chat.send(CHANNEL, full);
      await until(() => h.seen().length >= 3, 5000, "three lines seen");
      expect(h.seen()).toEqual([["first line", false], ["a notice", true], [full, false]]);
      expect(await h.chat.drain(1000)).toBe(true);
      expect(h.chat.status().queueDepth).toBe(0);
    } finally {
      await h.close();
    }
  });
});
