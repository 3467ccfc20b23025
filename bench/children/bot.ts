// Child process: the whole bot (test/support/bot.ts startBot: IRC adapter, SQLite store, web server)
// against the ngircd on loopback port argv[2], with the IRC flood settings in argv[3] (JSON, or
// "default" for the production pacing). Ready once it has joined its channels; answers "status".

import Database from "better-sqlite3";
import { startBot, until } from "../../test/support/bot.js";
import { memoryMiB, serveParent } from "../lib/child.js";

const port = Number(process.argv[2]);
const floodArg = process.argv[3] ?? "default";
const flood = floodArg === "default" ? undefined : (JSON.parse(floodArg) as { burst: number; intervalMs: number });

const bot = await startBot({ port, ...(flood ? { irc: { flood } } : {}) });
await until(() => bot.chat.status().connected, 15_000, "the bot to join its channels");

/**
 * The store's connection is private; the benchmark reads its pragmas to report the durability the
 * figures were measured with (synchronous is per connection, so another connection cannot tell).
 */
function storePragmas(): { synchronous: number | null; journalMode: string | null } {
  const db: unknown = Reflect.get(bot.app.sal.store, "db");
  if (!(db instanceof Database)) return { synchronous: null, journalMode: null };
  return { synchronous: db.pragma("synchronous", { simple: true }) as number, journalMode: db.pragma("journal_mode", { simple: true }) as string };
}

serveParent(
  { url: bot.url, nick: bot.chat.status().nick },
  {
    status: async () => ({
      memory: memoryMiB(),
      chat: bot.chat.status(),
      entries: await bot.app.sal.store.count(),
      ...storePragmas(),
      logLines: bot.log.length,
    }),
  },
  () => bot.stop(),
);
