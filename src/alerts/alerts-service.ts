// What the chat commands ask of the alerts side: what is firing now (from the store), and silences
// through Alertmanager's API, each recorded in the SAL with who and why.

import { compressHosts } from "../chat/format.js";
import { UserError } from "../errors.js";
import type { SalService } from "../sal/service.js";
import { instanceOf, nameOf, severityRank } from "./alert-format.js";
import type { SqliteAlertStore } from "./alert-store.js";
import type { Matcher, SilenceApi } from "./alertmanager-api.js";

export interface Who {
  readonly nick: string;
  readonly account: string | null;
  readonly mask: string;
}

export const matcherText = (m: Matcher) => `${m.name}${m.isEqual ? (m.isRegex ? "=~" : "=") : m.isRegex ? "!~" : "!="}${/[\s"]/.test(m.value) ? JSON.stringify(m.value) : m.value}`;

export class AlertsService {
  constructor(
    private readonly store: SqliteAlertStore,
    private readonly silences: SilenceApi | null,
    private readonly sal: SalService,
    private readonly now: () => Date,
    readonly alertsUrl: () => string,
  ) {}

  /** One line per alert name: `DiskFull x12 [critical] on web[01-07]`; FILTER is a word or label=value. */
  firing(filter: string | null): string[] {
    const eq = filter ? /^([A-Za-z_]\w*)=(.*)$/.exec(filter) : null;
    const all = this.store.firing().filter((a) =>
      !filter ? true : eq ? a.labels[eq[1]!] === eq[2] : Object.values(a.labels).some((v) => v.toLowerCase().includes(filter.toLowerCase())),
    );
    if (all.length === 0) return [filter ? `nothing firing matches "${filter}"` : "nothing is firing"];
    const byName = new Map<string, typeof all>();
    for (const a of all) byName.set(nameOf(a), [...(byName.get(nameOf(a)) ?? []), a]);
    const rows = [...byName].sort(([, a], [, b]) => severityRank(a[0]!.labels.severity) - severityRank(b[0]!.labels.severity) || b.length - a.length);
    const lines = rows.map(([name, as]) => {
      const sev = [...new Set(as.map((a) => a.labels.severity).filter(Boolean))].join("/");
      const hosts = compressHosts(as.map(instanceOf).filter((h): h is string => h !== null));
      const since = as.map((a) => a.startsAt).sort()[0]!;
      return `${name} x${as.length}${sev ? ` [${sev}]` : ""}${hosts ? ` on ${hosts}` : ""} since ${since.slice(11, 16)} UTC`;
    });
    return [`${all.length} alert${all.length === 1 ? "" : "s"} firing${filter ? ` matching "${filter}"` : ""} (${this.alertsUrl()}):`, ...lines];
  }

  private api(): SilenceApi {
    if (!this.silences) throw new UserError("no Alertmanager is configured (alerts.alertmanager.url)");
    return this.silences;
  }

  async silence(req: { matchers: readonly Matcher[]; ms: number; durationText: string; reason: string; who: Who; channel: string | null; signal: AbortSignal }): Promise<string> {
    const start = this.now();
    const end = new Date(start.getTime() + req.ms);
    const id = await this.api().create({ matchers: req.matchers, startsAt: start.toISOString(), endsAt: end.toISOString(), createdBy: req.who.nick, comment: req.reason }, req.signal);
    const what = req.matchers.map(matcherText).join(" ");
    const entry = await this.sal.log({
      nick: req.who.nick, account: req.who.account, mask: req.who.mask, channel: req.channel, source: "irc",
      message: `silenced ${what} for ${req.durationText} (until ${end.toISOString().slice(0, 16).replace("T", " ")} UTC, silence ${id}): ${req.reason}`,
    });
    return `silence ${id} on ${what} until ${end.toISOString().slice(0, 16).replace("T", " ")} UTC (logged: ${entry.entry.id}); !unsilence ${id} ends it`;
  }

  async unsilence(req: { id: string; who: Who; channel: string | null; signal: AbortSignal }): Promise<string> {
    await this.api().expire(req.id, req.signal);
    const entry = await this.sal.log({ nick: req.who.nick, account: req.who.account, mask: req.who.mask, channel: req.channel, source: "irc", message: `expired silence ${req.id}` });
    return `silence ${req.id} expired (logged: ${entry.entry.id})`;
  }
}
