// The Alertmanager API client against a real Alertmanager and real failing sockets: a silence made and
// expired, Alertmanager's refusal in its own words, and a refused connection and a hung server
// reported as such (never as success).
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlertmanagerApi } from "../../src/alerts/alertmanager-api.js";
import { startAlertmanager, type AlertmanagerServer } from "../servers/alertmanager.js";
import { freePort } from "../servers/daemon.js";

describe("AlertmanagerApi", () => {
  let am: AlertmanagerServer;
  let hung: Server;
  beforeAll(async () => {
    am = await startAlertmanager({ webhookUrl: `http://127.0.0.1:${await freePort()}/api/alerts/none`, bearer: "x" });
    hung = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((r) => hung.listen(0, "127.0.0.1", r));
  }, 60_000);
  afterAll(async () => {
    hung?.closeAllConnections();
    await new Promise((r) => hung?.close(r));
    await am?.stop();
  });
  const silence = (startsAt: Date, endsAt: Date) => ({ matchers: [{ name: "alertname", value: "DiskFull", isRegex: false, isEqual: true }], startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString(), createdBy: "alice", comment: "T1" });

  it("creates and expires a silence", async () => {
    const api = new AlertmanagerApi(am.url, 5000, null);
    const id = await api.create(silence(new Date(), new Date(Date.now() + 3600_000)));
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await api.expire(id);
    const state = await fetch(`${am.url}/api/v2/silence/${id}`).then((r) => r.json() as Promise<{ status: { state: string } }>);
    expect(state.status.state).toBe("expired");
  });

  it("reports Alertmanager's refusal, a refused connection and a timeout as what they are", async () => {
    const api = new AlertmanagerApi(am.url, 5000, null);
    await expect(api.create(silence(new Date(Date.now() + 3600_000), new Date()))).rejects.toThrow(new RegExp(`^Alertmanager at ${am.url}: HTTP 400: .*(start time must be before end time|end time)`));
    const closed = `http://127.0.0.1:${await freePort()}`;
    await expect(new AlertmanagerApi(closed, 2000, null).create(silence(new Date(), new Date(Date.now() + 60_000)))).rejects.toThrow(`Alertmanager at ${closed}: connection refused`);
    const slow = `http://127.0.0.1:${(hung.address() as { port: number }).port}`;
    const started = Date.now();
    await expect(new AlertmanagerApi(slow, 300, null).expire("0b5c3e0a-0000-0000-0000-000000000000")).rejects.toThrow(`Alertmanager at ${slow}: timed out after 300 ms`);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
