// Turns stored notifications into channel lines, paced: a round gathers what arrived within
// `gatherMs`, keeps only each group's latest notification, drops repeats of an unchanged group within
// `dedupeSec` (a resolution is announced once), routes groups to channels by labels, and per channel
// sends at most `maxLinesPerRound` lines (the last one a `+N more` summary). A new round starts only
// once the chat's queue is empty, so a storm costs a few lines and never floods. While the chat is
// down nothing is taken from the store; after reconnect one summary line replaces the replay.

import type { Logger } from "pino";
import type { ChatPort } from "../chat/port.js";
import type { AlertsConfig } from "../config/schema.js";
import { groupLine, instanceOf, moreLine, outageLine, severityOf, severityRank } from "./alert-format.js";
import type { DeployAlert, SqliteAlertStore, StoredNotification } from "./alert-store.js";
import { deployNote, type DeployLinker } from "./deploy-link.js";
import type { AlertNotification } from "./notification.js";

export interface AnnouncerClock {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface AnnouncerDeps {
  readonly store: SqliteAlertStore;
  readonly chat: ChatPort;
  readonly config: AlertsConfig;
  readonly defaultChannels: readonly string[];
  readonly linker: DeployLinker | null;
  readonly alertsUrl: () => string;
  readonly clock: AnnouncerClock;
  readonly log: Logger;
  readonly tickMs?: number;
}

const fingerprintsOf = (n: AlertNotification) => n.alerts.filter((a) => a.status === "firing").map((a) => a.fingerprint).sort().join(",");

/** Channels a group goes to: routes in order, first match wins unless it says continue. */
export function routeChannels(labels: Readonly<Record<string, string>>, config: AlertsConfig, fallback: readonly string[]): string[] {
  const out: string[] = [];
  for (const r of config.routes) {
    if (!Object.entries(r.match).every(([k, v]) => labels[k] === v)) continue;
    for (const c of r.channels) if (!out.includes(c)) out.push(c);
    if (!r.continue) break;
  }
  return out.length ? out : [...fallback];
}

export class AlertAnnouncer {
  private timer: unknown = null;
  /** When the chat was last seen down (or the bot started); cleared by the summary after reconnect. */
  private downSince: number | null;
  private busy = false;

  constructor(private readonly deps: AnnouncerDeps) {
    this.downSince = deps.clock.now();
  }

  start(): void {
    this.timer ??= this.deps.clock.setInterval(() => this.tick(), this.deps.tickMs ?? 250);
  }

  stop(): void {
    if (this.timer !== null) this.deps.clock.clearInterval(this.timer);
    this.timer = null;
  }

  /** One step of the loop; public so tests with a fake clock can drive it. */
  tick(): void {
    if (this.busy) return;
    this.busy = true;
    try {
      this.step();
    } catch (err) {
      // The notifications stay pending: the next tick tries again.
      this.deps.log.error({ err }, "announcing alerts failed");
    } finally {
      this.busy = false;
    }
  }

  private step(): void {
    const { chat, store, config, clock } = this.deps;
    const now = clock.now();
    const status = chat.status();
    if (!status.connected) {
      this.downSince ??= now;
      return;
    }
    // While the last round is still going out, wait (and do not read the store on every tick).
    if (status.queueDepth > 0 && this.downSince === null) return;
    const pending = store.pending();
    if (pending.length === 0) {
      this.downSince = null;
      return;
    }
    if (status.queueDepth > 0) return;
    if (this.downSince !== null) {
      this.announceOutage(pending, this.downSince);
      this.downSince = null;
      return;
    }
    const oldest = Date.parse(pending[0]!.receivedAt);
    if (now - oldest < config.gatherMs) return;
    this.announceRound(pending, now);
  }

  /** The latest notification per group wins; earlier ones are superseded. */
  private latestPerGroup(pending: readonly StoredNotification[]): AlertNotification[] {
    const latest = new Map<string, AlertNotification>();
    for (const p of pending) latest.set(`${p.notification.receiver}\0${p.notification.groupKey}`, p.notification);
    return [...latest.values()];
  }

  /** Whether the group's latest notification says something not yet announced. */
  private isNews(n: AlertNotification, now: number): boolean {
    const last = this.deps.store.announced(n.receiver, n.groupKey);
    if (!last) return true;
    if (n.status === "resolved") return last.status !== "resolved";
    return last.status === "resolved" || last.fingerprints !== fingerprintsOf(n) || now - Date.parse(last.at) >= this.deps.config.dedupeSec * 1000;
  }

  private correlate(n: AlertNotification): { note: string | null; links: DeployAlert[] } {
    const linker = this.deps.linker;
    if (!linker || n.status !== "firing") return { note: null, links: [] };
    const last = this.deps.store.announced(n.receiver, n.groupKey);
    const known = new Set(last && last.status === "firing" ? last.fingerprints.split(",") : []);
    let note: string | null = null;
    const links: DeployAlert[] = [];
    for (const a of n.alerts) {
      if (a.status !== "firing" || known.has(a.fingerprint)) continue;
      const m = linker.match(a);
      if (!m) continue;
      note ??= deployNote(m);
      links.push({
        deployId: m.deploy.id, fingerprint: a.fingerprint, alertname: a.labels.alertname ?? "?", instance: instanceOf(a), severity: a.labels.severity ?? null,
        summary: a.annotations.summary ?? null, startsAt: a.startsAt, minutesAfter: m.minutesAfter ?? 0,
      });
    }
    return { note, links };
  }

  private announceRound(pending: readonly StoredNotification[], now: number): void {
    const { chat, store, config } = this.deps;
    const news = this.latestPerGroup(pending).filter((n) => this.isNews(n, now));
    // Most urgent first: firing before resolved, then by severity.
    news.sort((a, b) => (a.status === b.status ? 0 : a.status === "firing" ? -1 : 1) || severityRank(severityOf(a) ?? undefined) - severityRank(severityOf(b) ?? undefined));
    const perChannel = new Map<string, Array<{ n: AlertNotification; note: string | null }>>();
    const links: DeployAlert[] = [];
    for (const n of news) {
      const { note, links: l } = this.correlate(n);
      links.push(...l);
      for (const c of routeChannels({ ...n.groupLabels, ...n.commonLabels }, config, this.deps.defaultChannels)) perChannel.set(c, [...(perChannel.get(c) ?? []), { n, note }]);
    }
    // Settled before sending: a crash in between loses a line, never repeats a storm.
    store.settle(pending.map((p) => p.id), news.map((n) => ({ receiver: n.receiver, groupKey: n.groupKey, status: n.status, fingerprints: fingerprintsOf(n) })), links);
    for (const [channel, items] of perChannel) {
      const budget = chat.budget(channel, true);
      const room = items.length <= config.maxLinesPerRound ? items.length : config.maxLinesPerRound - 1;
      for (const { n, note } of items.slice(0, room)) chat.send(channel, groupLine({ notification: n, deploy: note }, budget), { notice: true, kind: "alert" });
      const rest = items.slice(room).map((i) => i.n);
      if (rest.length) chat.send(channel, moreLine(rest, this.deps.alertsUrl(), budget), { notice: true, kind: "alert" });
    }
    this.deps.log.info({ notifications: pending.length, groups: news.length, channels: perChannel.size }, "alerts announced");
  }

  private announceOutage(pending: readonly StoredNotification[], since: number): void {
    const { chat, store, config } = this.deps;
    const latest = this.latestPerGroup(pending);
    const firing = store.firing();
    const perChannel = new Map<string, AlertNotification[]>();
    for (const p of pending) {
      const n = p.notification;
      for (const c of routeChannels({ ...n.groupLabels, ...n.commonLabels }, config, this.deps.defaultChannels)) perChannel.set(c, [...(perChannel.get(c) ?? []), n]);
    }
    const links = latest.flatMap((n) => this.correlate(n).links);
    store.settle(pending.map((p) => p.id), latest.map((n) => ({ receiver: n.receiver, groupKey: n.groupKey, status: n.status, fingerprints: fingerprintsOf(n) })), links);
    for (const [channel, notifications] of perChannel) {
      const groups = new Set(notifications.map((n) => `${n.receiver}\0${n.groupKey}`));
      const firingHere = firing.filter((a) => groups.has(`${a.receiver}\0${a.groupKey}`));
      const text = outageLine({ since: new Date(since).toISOString(), notifications, firingNow: firingHere, link: this.deps.alertsUrl() }, chat.budget(channel, true));
      chat.send(channel, text, { notice: true, kind: "alert" });
    }
    this.deps.log.info({ notifications: pending.length, since: new Date(since).toISOString() }, "alerts received while the chat was down, summarised");
  }
}
