import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, parseConfigText } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

const root = join(import.meta.dirname, "..", "..");
const files: Record<string, string> = {};
const deps = (env: Record<string, string> = {}) => ({
  env,
  dataDir: "/data",
  readFile: (p: string) => {
    if (p in files) return files[p]!;
    throw Object.assign(new Error("no such file"), { code: "ENOENT" });
  },
});

function errorOf(text: string, name = "c.yaml"): string {
  try {
    parseConfigText(text, name);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("config files shipped in config/", () => {
  for (const file of readdirSync(join(root, "config"))) {
    it(`${file} is valid`, () => {
      const config = parseConfigText(readFileSync(join(root, "config", file), "utf8"), file);
      expect(config.web.port).toBeGreaterThanOrEqual(0);
    });
  }
});

describe("config errors name the key path and what was expected", () => {
  it.each([
    ["unknown top-level key", "chat: console\nbogus: 1\n", /Unrecognized key: "bogus"/],
    ["unknown nested key", "web:\n  prot: 80\n", /Unrecognized key: "prot"[\s\S]*→ at web/],
    ["bad value", "web:\n  port: 99999\n", /→ at web\.port/],
    ["wrong type", "sal:\n  maxLength: long\n", /expected number[\s\S]*→ at sal\.maxLength/],
    ["irc chat without irc", "chat: irc\n", /chat is irc, so an irc section is required[\s\S]*→ at irc/],
    ["unknown role", "roles: {}\npermissions:\n  log:\n    allow: ['role:ops']\n", /unknown role "ops"[\s\S]*→ at permissions\.log\.allow\[0\]/],
    ["bad principal", "permissions:\n  log:\n    allow: ['alice']\n", /anyone, identified, role:NAME[\s\S]*→ at permissions\.log\.allow\[0\]/],
    ["bad channel", "chat: irc\nirc:\n  host: h\n  channels: ['operations']\n", /a channel name[\s\S]*→ at irc\.channels\[0\]/],
    ["secret inline", "chat: irc\nirc:\n  host: h\n  channels: ['#a']\n  password: hunter2\n", /→ at irc\.password/],
    ["bad regexp", "sal:\n  taskPattern: '('\n", /not a valid regular expression[\s\S]*→ at sal\.taskPattern/],
    ["duplicate token", "api:\n  tokens:\n    - {name: a, token: {env: A}}\n    - {name: a, token: {env: B}}\n", /duplicate token name "a"/],
    ["alert route to a channel not joined", "alerts:\n  routes:\n    - {match: {team: db}, channels: ['#db']}\n", /#db is not a channel the bot joins[\s\S]*→ at alerts\.routes\[0\]\.channels\[0\]/],
    ["alert receiver secret inline", "alerts:\n  receivers:\n    - {name: am, kind: alertmanager, auth: {bearer: hunter2}}\n", /→ at alerts\.receivers\[0\]\.auth/],
    ["alert labels of an unknown app", "alerts:\n  appLabels: {api: {service: api}}\n", /unknown app "api"[\s\S]*→ at alerts\.appLabels\.api/],
    ["metric without its source", "fleet:\n  hosts: [{name: w1}]\napps:\n  api:\n    repo: /r\n    deployPath: /srv/api\n    targets: [w1]\n    metrics: [{name: errors, source: prometheus, query: up, worse: up}]\n", /prometheus has no URL in metrics\.prometheus[\s\S]*→ at apps\.api\.metrics\[0\]\.source/],
    ["per-host query without {host}", "metrics: {prometheus: {url: 'http://p:9090'}}\nfleet:\n  hosts: [{name: w1}]\napps:\n  api:\n    repo: /r\n    deployPath: /srv/api\n    targets: [w1]\n    metrics: [{name: errors, source: prometheus, query: up, perHostQuery: up, worse: up}]\n", /must contain \{host\}[\s\S]*→ at apps\.api\.metrics\[0\]\.perHostQuery/],
    ["negative reconnect interval", "fleet:\n  ssh:\n    reconnectSec: -5\n", /→ at fleet\.ssh\.reconnectSec/],
    ["keepConnected not a boolean", "fleet:\n  ssh:\n    keepConnected: sometimes\n", /expected boolean[\s\S]*→ at fleet\.ssh\.keepConnected/],
    ["bad direction", "metrics: {prometheus: {url: 'http://p:9090'}}\nfleet:\n  hosts: [{name: w1}]\napps:\n  api:\n    repo: /r\n    deployPath: /srv/api\n    targets: [w1]\n    metrics: [{name: errors, source: prometheus, query: up, worse: sideways}]\n", /→ at apps\.api\.metrics\[0\]\.worse/],
    ["empty guardrail", "metrics: {prometheus: {url: 'http://p:9090'}}\nfleet:\n  hosts: [{name: w1}]\napps:\n  api:\n    repo: /r\n    deployPath: /srv/api\n    targets: [w1]\n    metrics: [{name: errors, source: prometheus, query: up, worse: up, guardrail: {}}]\n", /give max, min or both/],
  ])("%s", (_name, text, pattern) => {
    expect(errorOf(text)).toMatch(pattern);
  });

  it("reports YAML and JSON syntax errors with the file name", () => {
    expect(errorOf("a: [", "x.yaml")).toMatch(/^x\.yaml: not valid YAML/);
    expect(errorOf("{", "x.json")).toMatch(/^x\.json: not valid JSON/);
  });
});

describe("loadConfig", () => {
  it("resolves secrets from the environment and from files relative to the data directory", () => {
    files["/etc/t.yaml"] = "chat: irc\nirc:\n  host: h\n  channels: ['#a']\n  password: {env: IRC_PASS}\napi:\n  tokens:\n    - {name: cron@host, token: {file: tok}}\n";
    files["/data/tok"] = "s3cret\n";
    const loaded = loadConfig("/etc/t.yaml", "/default.yaml", deps({ IRC_PASS: "pw" }));
    expect(loaded.secrets.ircPassword).toBe("pw");
    expect(loaded.secrets.apiTokens).toEqual([{ name: "cron@host", token: "s3cret" }]);
    expect(Object.isFrozen(loaded.config.irc)).toBe(true);
  });

  it("stops with a clear error when a secret is missing or the file unreadable", () => {
    files["/etc/t.yaml"] = "chat: irc\nirc:\n  host: h\n  channels: ['#a']\n  password: {env: IRC_PASS}\n";
    expect(() => loadConfig("/etc/t.yaml", "/d", deps())).toThrow("irc.password: environment variable IRC_PASS is not set");
    files["/etc/u.yaml"] = "api:\n  tokens:\n    - {name: a, token: {file: /nope}}\n";
    expect(() => loadConfig("/etc/u.yaml", "/d", deps())).toThrow("api.tokens.0.token: cannot read secret file /nope: ENOENT");
    expect(() => loadConfig("/etc/missing.yaml", "/d", deps())).toThrow("cannot read config file /etc/missing.yaml: ENOENT");
  });

  it("uses the embedded default when no file is given", () => {
    files["/default.yaml"] = readFileSync(join(root, "config", "default.yaml"), "utf8");
    files["/data/api-token"] = "t";
    const loaded = loadConfig(null, "/default.yaml", deps());
    expect(loaded.source).toBe("embedded default");
    expect(loaded.config.chat).toBe("console");
    expect(loaded.config.web).toMatchObject({ host: "127.0.0.1", port: 8080 });
  });
});
