// What a receiver hands to the alert store: one notification about one alert group, whatever sent it
// (Alertmanager's webhook v4, the generic JSON endpoint the Icinga script posts to). Parsed and
// validated with zod here; nothing downstream sees raw request bodies.

import { createHash } from "node:crypto";
import { z } from "zod";

export type AlertStatus = "firing" | "resolved";

export interface Alert {
  readonly status: AlertStatus;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** ISO 8601. */
  readonly startsAt: string;
  readonly endsAt: string | null;
  readonly fingerprint: string;
  readonly generatorURL: string | null;
}

export interface AlertNotification {
  readonly receiver: string;
  readonly groupKey: string;
  readonly status: AlertStatus;
  readonly groupLabels: Readonly<Record<string, string>>;
  readonly commonLabels: Readonly<Record<string, string>>;
  readonly commonAnnotations: Readonly<Record<string, string>>;
  readonly externalURL: string | null;
  readonly alerts: readonly Alert[];
}

const labels = z.record(z.string().max(200), z.string().max(4096));
const time = z.string().max(64).refine((s) => !Number.isNaN(Date.parse(s)), "an RFC 3339 time");
/** Alertmanager sends Go's zero time for "no end". */
const endTime = (s: string | null | undefined): string | null => (s && !s.startsWith("0001-") ? new Date(s).toISOString() : null);

// Not strict: Alertmanager may add fields in later versions; what we read is checked.
export const AlertmanagerPayload = z.object({
  version: z.literal("4", { error: 'version: expected "4" (Alertmanager webhook payload version 4)' }),
  groupKey: z.string().min(1).max(4096),
  truncatedAlerts: z.number().int().min(0).optional(),
  status: z.enum(["firing", "resolved"]),
  receiver: z.string().max(200),
  groupLabels: labels,
  commonLabels: labels,
  commonAnnotations: labels,
  externalURL: z.string().max(2048).optional(),
  alerts: z
    .array(
      z.object({
        status: z.enum(["firing", "resolved"]),
        labels,
        annotations: labels.default({}),
        startsAt: time,
        endsAt: z.string().max(64).nullish(),
        generatorURL: z.string().max(4096).nullish(),
        fingerprint: z.string().min(1).max(64),
      }),
    )
    .min(1)
    .max(10_000),
});

export const GenericPayload = z.strictObject({
  /** Alerts sharing a groupKey form one group; without it every alert is its own group. */
  groupKey: z.string().min(1).max(4096).optional(),
  alerts: z
    .array(
      z.strictObject({
        status: z.enum(["firing", "resolved"]),
        labels: labels.refine((l) => typeof l.alertname === "string" && l.alertname !== "", "labels.alertname is required"),
        annotations: labels.default({}),
        startsAt: time.optional(),
        endsAt: time.optional(),
        generatorURL: z.string().max(4096).optional(),
        fingerprint: z.string().min(1).max(64).optional(),
      }),
    )
    .min(1, "alerts: send at least one alert")
    .max(10_000),
});

export function fingerprintOf(l: Readonly<Record<string, string>>): string {
  const sorted = Object.keys(l).sort().map((k) => [k, l[k]]);
  return createHash("sha256").update(JSON.stringify(sorted)).digest("hex").slice(0, 16);
}

/** The labels (or annotations) every record shares. */
export function common(records: ReadonlyArray<Readonly<Record<string, string>>>): Record<string, string> {
  const [first, ...rest] = records;
  if (!first) return {};
  return Object.fromEntries(Object.entries(first).filter(([k, v]) => rest.every((r) => r[k] === v)));
}

export function fromAlertmanager(receiver: string, p: z.infer<typeof AlertmanagerPayload>): AlertNotification {
  return {
    receiver,
    groupKey: p.groupKey,
    status: p.status,
    groupLabels: p.groupLabels,
    commonLabels: p.commonLabels,
    commonAnnotations: p.commonAnnotations,
    externalURL: p.externalURL ?? null,
    alerts: p.alerts.map((a) => ({
      status: a.status, labels: a.labels, annotations: a.annotations, startsAt: new Date(a.startsAt).toISOString(), endsAt: endTime(a.endsAt),
      fingerprint: a.fingerprint, generatorURL: a.generatorURL || null,
    })),
  };
}

/** One notification per group: the body's groupKey, or one per alert. */
export function fromGeneric(receiver: string, p: z.infer<typeof GenericPayload>, now: Date): AlertNotification[] {
  const alerts: Alert[] = p.alerts.map((a) => ({
    status: a.status, labels: a.labels, annotations: a.annotations, startsAt: new Date(a.startsAt ?? now).toISOString(),
    endsAt: a.endsAt ? new Date(a.endsAt).toISOString() : a.status === "resolved" ? now.toISOString() : null,
    fingerprint: a.fingerprint ?? fingerprintOf(a.labels), generatorURL: a.generatorURL ?? null,
  }));
  const groups = p.groupKey ? [{ key: p.groupKey, alerts }] : alerts.map((a) => ({ key: `${receiver}/${a.fingerprint}`, alerts: [a] }));
  return groups.map(({ key, alerts: as }): AlertNotification => {
    const commonLabels = common(as.map((a) => a.labels));
    const groupLabels: Record<string, string> = commonLabels.alertname ? { alertname: commonLabels.alertname } : {};
    return {
      receiver, groupKey: key, status: as.some((a) => a.status === "firing") ? "firing" : "resolved",
      groupLabels, commonLabels,
      commonAnnotations: common(as.map((a) => a.annotations)), externalURL: null, alerts: as,
    };
  });
}
