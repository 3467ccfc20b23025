// The HTTP receivers: POST /api/alerts/NAME for each configured receiver (Alertmanager webhook v4 or
// the generic JSON), authenticated by a bearer token or a timestamped HMAC-SHA256 signature (compared
// in constant time; Stripe's scheme: `x-tugboat-signature: t=UNIX,v1=HMAC(key, "UNIX.BODY")`, refused
// outside the tolerance and when used before), validated with zod, and written to the alert store
// before the answer: a 200 means the notification is on disk. Anything refused is neither stored nor announced.

import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { z } from "zod";
import { ReplayError, type SqliteAlertStore } from "./alert-store.js";
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
  /** Signed requests further than this from now are refused (alerts.signatureToleranceSec). */
  readonly toleranceSec: number;
  /** Called after notifications are stored (the announcer may look at once). */
  readonly onStored?: (n: readonly AlertNotification[]) => void;
  /** Called for every refused request, with the HTTP status (for /metrics). */
  readonly onRefused?: (receiver: string, status: number) => void;
}

export const SIGNATURE_HEADER = "x-tugboat-signature";
export const SIGNATURE_FORMAT = `${SIGNATURE_HEADER}: t=UNIX_SECONDS[,n=NONCE],v1=HEX (HMAC-SHA256 of "UNIX_SECONDS.BODY", or "UNIX_SECONDS.NONCE.BODY")`;

const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest();

/**
 * `t=UNIX,v1=HEX` as a sender signs `${t}.${body}`, or with a nonce `t=UNIX,n=NONCE,v1=HEX` over
 * `${t}.${nonce}.${body}`: the header value. The nonce lets two identical notifications sent in the
 * same second (two processes, say) be told from a replay: without it their signatures are equal.
 */
export function signature(key: string, body: string | Buffer, unixSec: number, nonce?: string): string {
  const signed = nonce === undefined ? `${unixSec}.` : `${unixSec}.${nonce}.`;
  return `t=${unixSec},${nonce === undefined ? "" : `n=${nonce},`}v1=${createHmac("sha256", key).update(signed).update(body).digest("hex")}`;
}

export type AuthResult =
  | { readonly ok: true; readonly once: { readonly signature: string; readonly until: Date } | null }
  | { readonly ok: false; readonly why: string };

/** Checks the request's credentials against the receiver's secret, in constant time; says why not. */
export function authenticate(secret: ReceiverSecret, headers: FastifyRequest["headers"], raw: Buffer, now: Date, toleranceSec: number): AuthResult {
  if (secret.kind === "bearer") {
    const m = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? "");
    // Hashing first gives equal lengths, so timingSafeEqual never throws and length leaks nothing.
    const ok = m !== null && timingSafeEqual(sha256(m[1]!), sha256(secret.secret));
    return ok ? { ok, once: null } : { ok, why: "missing or wrong credentials (Authorization: Bearer TOKEN)" };
  }
  const given = typeof headers[SIGNATURE_HEADER] === "string" ? (headers[SIGNATURE_HEADER] as string).trim() : "";
  if (/^sha256=/i.test(given)) return { ok: false, why: `the signature has no timestamp (sha256=HEX of the body alone can be replayed and is no longer taken): send ${SIGNATURE_FORMAT}` };
  const parts = given.split(",").map((p) => p.trim().split("="));
  const t = parts.find(([k]) => k === "t")?.[1];
  const nonce = parts.find(([k]) => k === "n")?.[1];
  if (nonce !== undefined && !/^[0-9A-Za-z_-]{8,64}$/.test(nonce)) return { ok: false, why: `the signature's nonce must be 8 to 64 letters, digits, _ or - (${SIGNATURE_FORMAT})` };
  const macs = parts.filter(([k, v]) => k === "v1" && /^[0-9a-fA-F]{64}$/.test(v ?? "")).map(([, v]) => v!.toLowerCase());
  if (!t || !/^\d{1,12}$/.test(t) || macs.length === 0) return { ok: false, why: `missing or wrong credentials (${SIGNATURE_FORMAT})` };
  const skew = Math.round(now.getTime() / 1000 - Number(t));
  if (Math.abs(skew) > toleranceSec) {
    return { ok: false, why: `the signature's timestamp is ${Math.abs(skew)} s ${skew > 0 ? "old" : "in the future"} (tolerance ${toleranceSec} s): sign each request when it is sent, and check the sender's clock` };
  }
  const expected = createHmac("sha256", secret.secret).update(nonce === undefined ? `${t}.` : `${t}.${nonce}.`).update(raw).digest();
  // Several v1 values may be sent (a key being rotated): any one that matches will do.
  const match = macs.find((m) => timingSafeEqual(Buffer.from(m, "hex"), expected));
  if (!match) return { ok: false, why: `missing or wrong credentials (${SIGNATURE_FORMAT})` };
  return { ok: true, once: { signature: match, until: new Date((Number(t) + toleranceSec) * 1000) } };
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
      const auth = authenticate(secret, req.headers, raw, deps.now(), deps.toleranceSec);
      if (!auth.ok) {
        req.log.warn({ receiver: name, ip: req.ip, why: auth.why }, "alert webhook refused: bad credentials");
        return refuse(401, auth.why);
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
      let ids: number[];
      try {
        ids = deps.store.record(notifications, auth.once ? { receiver: name, ...auth.once } : undefined);
      } catch (e) {
        if (!(e instanceof ReplayError)) throw e;
        req.log.warn({ receiver: name, ip: req.ip }, "alert webhook refused: signature used before");
        return refuse(401, e.message);
      }
      deps.onStored?.(notifications);
      return reply.code(200).send({ stored: ids.length, alerts: notifications.reduce((n, x) => n + x.alerts.length, 0) });
    });
  };
}
