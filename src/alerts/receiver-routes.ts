// The HTTP receivers: POST /api/alerts/NAME for each configured receiver (Alertmanager webhook v4 or
// the generic JSON), authenticated by a bearer token or an HMAC-SHA256 signature of the raw body
// (compared in constant time), validated with zod, and written to the alert store before the answer:
// a 200 means the notification is on disk. Anything refused is neither stored nor announced.

import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { SqliteAlertStore } from "./alert-store.js";
import { AlertmanagerPayload, fromAlertmanager, fromGeneric, GenericPayload, type AlertNotification } from "./notification.js";

export interface ReceiverSecret {
  readonly name: string;
  readonly kind: "bearer" | "hmac";
  readonly secret: string;
}

export interface ReceiverDeps {
  readonly store: SqliteAlertStore;
  readonly receivers: ReadonlyArray<{ readonly name: string; readonly kind: "alertmanager" | "generic" }>;
  readonly secrets: readonly ReceiverSecret[];
  readonly now: () => Date;
  /** Called after notifications are stored (the announcer may look at once). */
  readonly onStored?: (n: readonly AlertNotification[]) => void;
  /** Called for every refused request, with the HTTP status (for /metrics). */
  readonly onRefused?: (receiver: string, status: number) => void;
}

export const SIGNATURE_HEADER = "x-tugboat-signature";

const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest();

/** Constant-time check of the request's credentials against the receiver's secret. */
export function authorised(secret: ReceiverSecret, headers: FastifyRequest["headers"], raw: Buffer): boolean {
  if (secret.kind === "bearer") {
    const m = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? "");
    // Hashing first gives equal lengths, so timingSafeEqual never throws and length leaks nothing.
    return m !== null && timingSafeEqual(sha256(m[1]!), sha256(secret.secret));
  }
  const given = headers[SIGNATURE_HEADER];
  const m = typeof given === "string" ? /^sha256=([0-9a-fA-F]{64})$/.exec(given.trim()) : null;
  if (!m) return false;
  const expected = createHmac("sha256", secret.secret).update(raw).digest();
  return timingSafeEqual(Buffer.from(m[1]!.toLowerCase(), "hex"), expected);
}

function issues(e: z.ZodError): string {
  return e.issues.slice(0, 5).map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message)).join("; ");
}

/** A fastify plugin (register it): its own JSON parser keeps the raw body for the signature. */
export function alertReceiverRoutes(deps: ReceiverDeps) {
  return async (app: FastifyInstance) => {
    app.removeContentTypeParser("application/json");
    app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
    // Senders' keep-alive connections are closed after each notification: Alertmanager keeps idle ones
    // for 5 minutes, and those held the bot's shutdown (fastify's close) for as long. Webhooks are rare
    // enough that a new connection each costs nothing.
    app.addHook("onSend", async (_req, reply) => {
      reply.header("connection", "close");
    });
    app.post("/api/alerts/:receiver", async (req, reply) => {
      const name = (req.params as { receiver: string }).receiver;
      const receiver = deps.receivers.find((r) => r.name === name);
      const secret = deps.secrets.find((s) => s.name === name);
      const refuse = (status: number, error: string) => {
        deps.onRefused?.(name, status);
        return reply.code(status).send({ error });
      };
      if (!receiver || !secret) return refuse(404, `no alert receiver named "${name}" (configured: ${deps.receivers.map((r) => r.name).join(", ") || "none"})`);
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (!authorised(secret, req.headers, raw)) {
        req.log.warn({ receiver: name, ip: req.ip }, "alert webhook refused: bad credentials");
        const how = secret.kind === "bearer" ? "Authorization: Bearer TOKEN" : `${SIGNATURE_HEADER}: sha256=HMAC-SHA256 of the body in hex`;
        return refuse(401, `missing or wrong credentials (${how})`);
      }
      if (!/^application\/json\b/i.test(req.headers["content-type"] ?? "")) return refuse(415, "send the body as application/json");
      let json: unknown;
      try {
        json = JSON.parse(raw.toString("utf8"));
      } catch (e) {
        return refuse(400, `the body is not valid JSON: ${(e as Error).message}`);
      }
      let notifications: AlertNotification[];
      if (receiver.kind === "alertmanager") {
        const p = AlertmanagerPayload.safeParse(json);
        if (!p.success) return refuse(400, issues(p.error));
        notifications = [fromAlertmanager(name, p.data)];
      } else {
        const p = GenericPayload.safeParse(json);
        if (!p.success) return refuse(400, issues(p.error));
        notifications = fromGeneric(name, p.data, deps.now());
      }
      // A store failure answers 5xx (via the error handler): the sender retries, nothing is acknowledged.
      const ids = deps.store.record(notifications);
      deps.onStored?.(notifications);
      return reply.code(200).send({ stored: ids.length, alerts: notifications.reduce((n, x) => n + x.alerts.length, 0) });
    });
  };
}
