// Builds the router and services on fakes (FakeChat, MemorySalStore) for fast unit tests.

import { pino } from "pino";
import { commands as allCommands } from "../../commands/index.js";
import { Acl } from "../../src/chat/acl.js";
import type { Command, Services } from "../../src/chat/command.js";
import { Router, type Outcome } from "../../src/chat/router.js";
import { parseConfigText } from "../../src/config/load.js";
import type { Config, ConfigInput } from "../../src/config/schema.js";
import { SalService } from "../../src/sal/service.js";
import { FakeChat } from "../fakes/fake-chat.js";
import { MemorySalStore } from "../fakes/memory-sal-store.js";

export function testConfig(over: ConfigInput = {}): Config {
  const base: ConfigInput = {
    chat: "irc",
    irc: { host: "127.0.0.1", channels: ["#operations", "#other"] },
    sal: { channels: { "#operations": {} }, projects: ["mediawiki", "puppet"] },
    ...over,
  };
  return parseConfigText(JSON.stringify(base), "test.json");
}

export function fakeBot(opts: { config?: Config; commands?: readonly Command[]; timeoutMs?: number } = {}) {
  const config = opts.config ?? testConfig();
  const chat = new FakeChat();
  const store = new MemorySalStore(() => new Date("2026-11-26T12:00:00Z"));
  const sal = new SalService(store, config.sal);
  const commands = opts.commands ?? allCommands;
  const links = { entry: (id: number) => `https://sal.test/log/${id}`, home: () => "https://sal.test/", help: (c?: string) => `https://sal.test/help${c ? `#${c}` : ""}`, diff: (app: string, from: string | null, to: string) => `https://sal.test/diff/${app}?${from ? `from=${from}&` : ""}to=${to}` };
  const services: Services = { config, sal, links, commands, deploys: null, acl: new Acl(config) };
  const outcomes: Array<[string, Outcome]> = [];
  const kept: Array<readonly string[]> = [];
  const router = new Router({
    chat, commands, services, acl: new Acl(config), log: pino({ level: "silent" }),
    channels: config.irc?.channels ?? ["#operations"], ignore: config.irc?.ignore ?? [],
    timeoutMs: opts.timeoutMs ?? config.commandTimeoutMs, maxLinesPerReply: config.irc?.maxLinesPerReply ?? 4,
    keepReply: (lines) => {
      kept.push(lines);
      return `https://sal.test/reply/${kept.length}`;
    },
    onOutcome: (c, o) => outcomes.push([c, o]),
  });
  chat.onMessage((m) => router.handle(m));
  return { chat, store, sal, router, outcomes, kept, config };
}
