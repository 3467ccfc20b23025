// A deterministic, realistic SAL for search benchmarks: ~200 nicks with a skewed (Zipf) activity, ops
// messages from templates (restarts, depools, cookbook START/END lines, scap syncs, schema changes...)
// naming hosts like mw1234, task ids T123456 and commit SHAs, 20% with a project, API and deploy
// entries with identities, timestamps increasing over 10 years. Same seed, same file.

import { renameSync, rmSync } from "node:fs";
import Database from "better-sqlite3";
import { SqliteSalStore } from "../../src/sal/sqlite-store.js";

export const CORPUS_SEED = 20_261_126;
const START = Date.parse("2016-01-01T00:00:00Z");
const SPAN_MS = Date.parse("2026-01-01T00:00:00Z") - START;

/** mulberry32: small, fast, good enough to pick words. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ["a", "b", "c", "d", "e", "f", "g", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "jo", "ma"];
const SURNAMES = [
  "moritz", "ostrov", "garcia", "kowalski", "nakamura", "silva", "dubois", "rossi", "jansen", "novak", "horvat", "ivanova",
  "larsen", "kim", "chen", "patel", "okafor", "mensah", "haddad", "cohen", "schmidt", "muller", "fischer", "weber",
  "bauer", "keller", "ricci", "costa", "lopez", "marin", "santos", "oliveira", "tanaka", "sato", "hughes", "walsh",
  "byrne", "murphy", "quinn", "reyes",
];
const BOTS = ["l10nupdate", "mwdebug", "cookbooks", "scap", "puppet", "cumin", "mwmaint", "wikibugs"];

export const PROJECTS = ["mediawiki", "puppet", "dns", "kubernetes", "swift", "elasticsearch", "mariadb", "cassandra", "wikidata", "gerrit", "toolforge", "cdn"];

const SERVICES = [
  "memcached", "nginx", "apache2", "php-fpm", "varnish", "ats-be", "mcrouter", "envoy", "haproxy", "mariadb", "elasticsearch",
  "cassandra", "kafka", "zookeeper", "redis", "etcd", "pybal", "swift-proxy", "rsyslog", "prometheus", "grafana", "parsoid",
  "restbase", "ores", "thumbor", "nutcracker", "confd", "puppet-agent", "jobrunner", "eventgate",
];
const HOST_PREFIXES = [
  "mw", "db", "es", "cp", "ms-be", "ms-fe", "elastic", "kafka-main", "an-worker", "wtp", "restbase", "lvs", "dns", "ores",
  "thumbor", "mc", "ganeti", "kubernetes", "sessionstore", "maps", "cloudvirt", "logstash", "conf", "mwmaint", "parse",
];
const DCS = [
  { digit: 1, name: "eqiad", weight: 5 },
  { digit: 2, name: "codfw", weight: 4 },
  { digit: 3, name: "esams", weight: 1 },
  { digit: 4, name: "ulsfo", weight: 1 },
  { digit: 5, name: "eqsin", weight: 1 },
];
const REASONS = [
  "security patch", "kernel upgrade", "OOM", "high load", "disk full", "hardware maintenance", "config change", "schema change",
  "canary failure", "rollback", "memory leak", "certificate renewal", "firmware upgrade", "network maintenance", "replication lag",
  "reimage", "bad disk", "stuck process", "latency spike", "PDU maintenance",
];
const VERBS = ["bump", "revert", "enable", "disable", "increase", "lower", "add", "remove", "switch", "rotate", "tune", "backport", "raise", "drop", "move", "migrate"];
const OBJECTS = [
  "cache TTL", "max_connections", "$wgMaxArticleSize", "rate limit", "php-fpm workers", "log level", "the parser cache", "pool weight",
  "GC settings", "read-only mode", "the job queue", "thumbnail limits", "heap size", "TLS ciphers", "shard count", "retention",
  "sampling rate", "the CAPTCHA", "the abuse filter", "session timeout",
];
const QUALIFIERS = ["on all wikis", "for group1", "for group0", "on commonswiki", "on enwiki", "in codfw", "in eqiad", "temporarily", "per incident review", "to fix a regression", ""];
const FILES = ["wmf-config/InitialiseSettings.php", "wmf-config/CommonSettings.php", "wmf-config/db-production.php", "wmf-config/ProductionServices.php", "dblists/group1.dblist"];
const REPOS = ["operations/puppet", "operations/dns", "mediawiki/core", "operations/deployment-charts", "operations/mediawiki-config", "analytics/refinery", "operations/software/gerrit"];
const PACKAGES = ["openssl", "linux-image-amd64", "nginx", "php8.1-fpm", "mariadb-server", "envoyproxy", "openjdk-17", "python3", "systemd", "haproxy"];
const TABLES = ["revision", "page", "user", "categorylinks", "templatelinks", "pagelinks", "actor", "comment", "logging", "externallinks"];
const IDENTITIES = ["l10nupdate@deploy1001", "scap@deploy1002", "cron@puppetmaster1001", "cookbooks@cumin1001", "mwscript@mwmaint1002"];
const CHANNELS = ["#operations", "#operations", "#operations", "#operations", "#operations", "#operations", "#operations", "#operations", "#releng", "#cloud-admin"];

export interface CorpusRow {
  time: string;
  nick: string;
  account: string | null;
  mask: string | null;
  channel: string | null;
  project: string | null;
  message: string;
  source: string;
  identity: string | null;
  deployId: number | null;
  task: string | null;
  idempotencyKey: string | null;
}

function nickPool(rand: () => number): string[] {
  const out = new Set<string>();
  while (out.size < 200 - BOTS.length) {
    const f = FIRST[Math.floor(rand() * FIRST.length)]!;
    const s = SURNAMES[Math.floor(rand() * SURNAMES.length)]!;
    const style = rand();
    out.add(style < 0.6 ? `${f}${s}` : style < 0.8 ? `${s}${f}` : style < 0.9 ? `${f}${s}_` : `${s}${Math.floor(rand() * 100)}`);
  }
  return [...out, ...BOTS];
}

export function* generateCorpus(count: number): Generator<CorpusRow> {
  const rand = rng(CORPUS_SEED);
  const nicks = nickPool(rand);
  // Zipf(s = 1): the busiest person logs ~45x more than the 100th.
  const zipf = nicks.map((_, i) => 1 / (i + 1));
  const zipfTotal = zipf.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  zipf.reduce((acc, w, i) => (cumulative[i] = acc + w / zipfTotal), 0);
  const pickNick = () => {
    const u = rand();
    const i = cumulative.findIndex((c) => u <= c);
    return nicks[i === -1 ? nicks.length - 1 : i]!;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const dcTotal = DCS.reduce((a, d) => a + d.weight, 0);
  const dc = () => {
    let u = rand() * dcTotal;
    for (const d of DCS) if ((u -= d.weight) <= 0) return d;
    return DCS[0]!;
  };
  const host = () => {
    const d = dc();
    return { name: `${pick(HOST_PREFIXES)}${d.digit}${String(int(1, 450)).padStart(3, "0")}`, dc: d.name };
  };
  const task = () => `T${int(100_000, 399_999)}`;
  const sha = () => Array.from({ length: rand() < 0.8 ? int(7, 10) : 40 }, () => "0123456789abcdef"[int(0, 15)]).join("");
  const summary = () => `${pick(VERBS)} ${pick(OBJECTS)} ${pick(QUALIFIERS)}`.trim();
  const cluster = () => `${pick(HOST_PREFIXES)} ${dc().name}`;
  const duration = () => `${String(int(0, 25)).padStart(2, "0")}m ${String(int(0, 59)).padStart(2, "0")}s`;

  // [weight, template]; "restarted" appears in ~11% of entries, like the busiest verbs of a real SAL.
  const templates: Array<[number, () => string]> = [
    [6, () => `restarted ${pick(SERVICES)} on ${host().name}`],
    [2, () => `restarted ${pick(SERVICES)} on ${host().name}, ${host().name} and ${host().name} (${pick(REASONS)})`],
    [2, () => `rolling restarted ${pick(SERVICES)} in ${cluster()} for ${pick(REASONS)} ${task()}`],
    [4, () => `depooled ${host().name} (${pick(REASONS)})`],
    [4, () => `repooled ${host().name}`],
    [4, () => { const h = host(); return `START - Cookbook sre.hosts.reboot-single for host ${h.name}.${h.dc}.wmnet`; }],
    [4, () => { const h = host(); return `END (PASS) - Cookbook sre.hosts.reboot-single (exit_code=0) for host ${h.name}.${h.dc}.wmnet`; }],
    [6, () => `Synchronized ${pick(FILES)}: ${summary()} (${task()}) (duration: ${duration()})`],
    [2, () => `Finished scap: ${summary()} ${task()} (duration: ${duration()})`],
    [4, () => `deployed ${pick(REPOS)} ${sha()} to ${cluster()} (${task()})`],
    [3, () => `upgrading ${pick(PACKAGES)} to ${int(1, 9)}.${int(0, 30)}.${int(0, 20)} on ${cluster()} (${task()})`],
    [3, () => `rebooting ${host().name} for ${pick(REASONS)}`],
    [2, () => `Running schema change on s${int(1, 8)} for ${pick(TABLES)} - ${task()}`],
    [3, () => `set ${host().name} downtime for ${int(1, 48)} hours: ${pick(REASONS)}`],
    [2, () => `disabled puppet on ${host().name}: ${pick(REASONS)} ${task()}`],
    [2, () => `enabled puppet on ${host().name}`],
    [1, () => `cleared /srv on ${host().name}, disk was at ${int(90, 99)}%`],
    [1, () => `killed runaway ${pick(SERVICES)} process on ${host().name}`],
    [3, () => `merged ${sha()}: ${summary()}`],
    [1, () => `failover of s${int(1, 8)} primary from ${host().name} to ${host().name} (${task()})`],
    [1, () => `${pick(SERVICES)} restarted on ${cluster()} after ${pick(REASONS)}`],
    [2, () => `${summary()} (${pick(REASONS)})`],
  ];
  const templateTotal = templates.reduce((a, [w]) => a + w, 0);
  const message = () => {
    let u = rand() * templateTotal;
    for (const [w, t] of templates) if ((u -= w) <= 0) return t();
    return templates[0]![1]();
  };

  let deployId = 0;
  for (let i = 0; i < count; i++) {
    const time = new Date(START + Math.floor(((i + rand() * 0.9) / count) * SPAN_MS)).toISOString();
    const text = message();
    const s = rand();
    const source = s < 0.8 ? "irc" : s < 0.92 ? "api" : s < 0.98 ? "deploy" : "cli";
    const identity = source === "irc" ? null : pick(IDENTITIES);
    const nick = source === "api" ? identity!.split("@")[0]! : pickNick();
    yield {
      time,
      nick,
      account: source === "irc" && rand() < 0.7 ? nick.replace(/_$/, "") : null,
      mask: source === "irc" ? `${nick}!~${nick.slice(0, 10)}@user/${nick}` : null,
      channel: pick(CHANNELS),
      project: rand() < 0.2 ? pick(PROJECTS) : null,
      message: text,
      source,
      identity,
      deployId: source === "deploy" ? ++deployId : null,
      task: /\bT\d{1,9}\b/u.exec(text)?.[0] ?? null,
      idempotencyKey: source === "api" && rand() < 0.5 ? `k-${i}-${Math.floor(rand() * 1e9).toString(36)}` : null,
    };
  }
}

/**
 * Writes `count` entries to a new SQLite SAL at `file`: the schema from SqliteSalStore itself, then
 * one transaction of prepared inserts (the FTS index fills through the store's trigger) with the
 * journal off, and WAL mode restored at the end, as the store leaves its files. Built beside the
 * target and renamed over it, so an interrupted build never looks finished.
 */
export async function buildCorpusFile(file: string, count: number, onProgress?: (done: number) => void): Promise<void> {
  const partial = `${file}.partial`;
  rmSync(partial, { force: true });
  const store = new SqliteSalStore(partial, () => new Date());
  await store.close();
  const db = new Database(partial);
  try {
    db.pragma("journal_mode = DELETE");
    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    db.pragma("cache_size = -262144"); // 256 MiB: the indexes and the FTS pending terms stay in memory
    const insert = db.prepare(
      `INSERT INTO entries (time, nick, account, mask, channel, project, message, source, identity, deploy_id, task, idempotency_key)
       VALUES (@time, @nick, @account, @mask, @channel, @project, @message, @source, @identity, @deployId, @task, @idempotencyKey)`,
    );
    db.transaction(() => {
      let i = 0;
      for (const row of generateCorpus(count)) {
        insert.run(row);
        if (++i % 100_000 === 0) onProgress?.(i);
      }
    })();
    db.pragma("journal_mode = WAL");
  } finally {
    db.close();
  }
  renameSync(partial, file);
}
