// Child process: the api-insert baseline, what a quick script would do. A bare node:http server takes
// POST /api/log (bearer token, JSON body with a message), appends the entry as one JSON line to a file
// and fsyncs it before answering 201: the same durability as the bot's synchronous=FULL commit.
// No validation beyond that, no idempotency, no search index. Listens on 127.0.0.1, a free port.

import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { API_TOKEN } from "../../test/support/bot.js";
import { memoryMiB, serveParent } from "../lib/child.js";

const dir = mkdtempSync(join(tmpdir(), "tugboat-bench-jsonl-"));
const fh = await open(join(dir, "sal.jsonl"), "a");
let nextId = 1;
let written = 0;

const reply = (res: import("node:http").ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

const server = createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/api/log") return reply(res, 404, { error: "not found" });
  if (req.headers.authorization !== `Bearer ${API_TOKEN}`) return reply(res, 401, { error: "bad token" });
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    void (async () => {
      let body: { message?: unknown; nick?: unknown; idempotencyKey?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as typeof body;
      } catch {
        return reply(res, 400, { error: "bad json" });
      }
      if (typeof body.message !== "string" || body.message.trim() === "") return reply(res, 400, { error: "message is required" });
      const entry = { id: nextId++, time: new Date().toISOString(), nick: typeof body.nick === "string" ? body.nick : "cron", message: body.message, idempotencyKey: body.idempotencyKey ?? null };
      await fh.write(`${JSON.stringify(entry)}\n`);
      await fh.sync();
      written++;
      reply(res, 201, { entry, created: true });
    })().catch((err: unknown) => reply(res, 500, { error: String(err) }));
  });
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const addr = server.address();
if (addr === null || typeof addr === "string") throw new Error("no address");

serveParent(
  { url: `http://127.0.0.1:${addr.port}` },
  { status: () => ({ memory: memoryMiB(), entries: written }) },
  async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await fh.close();
    rmSync(dir, { recursive: true, force: true });
  },
);
