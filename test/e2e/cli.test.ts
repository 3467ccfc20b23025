// The CLI's surface, run as a user would: help, version, usage mistakes (exit 2), configuration
// errors that name the key to fix (exit 2), and check-config on the shipped example.

import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "vitest";
import { cleanEnv, consoleConfig, ROOT, runCli, tempDir, writeConfig } from "./harness.js";

const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

/** A data directory and an environment pointing at it. */
function sandbox(t: TestContext, extra: Record<string, string> = {}) {
  const dir = tempDir(t);
  return { dir, env: cleanEnv({ TUGBOAT_DATA_DIR: dir, ...extra }) };
}

describe.concurrent("tugboat usage", () => {
  it("--help lists the commands and options and exits 0", async ({ expect }) => {
    const r = await runCli(["--help"], { env: cleanEnv() });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    for (const command of ["start", "log MESSAGE", "check-config"]) expect(r.stdout).toMatch(new RegExp(`^  ${command}\\s{2,}\\S`, "m"));
    expect(r.stdout).toContain("--tries N");
    expect(r.stdout).toContain("--config FILE");
  });

  it("-v prints the package version", async ({ expect }) => {
    const r = await runCli(["-v"], { env: cleanEnv() });
    expect(r).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("an unknown subcommand exits 2 and points at --help", async ({ expect }) => {
    const r = await runCli(["deploy-everything"], { env: cleanEnv() });
    expect(r).toMatchObject({ code: 2, stdout: "", stderr: `tugboat: unknown command "deploy-everything" (see tugboat --help)\n` });
  });

  it("an unknown flag exits 2 and names the flag", async ({ expect }) => {
    const r = await runCli(["--verbose", "check-config"], { env: cleanEnv() });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^tugboat: Unknown option '--verbose'/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });

  it("start with an argument, and log with a bad --tries, exit 2", async (t) => {
    const { env } = sandbox(t);
    const start = await runCli(["start", "now"], { env });
    t.expect(start).toMatchObject({ code: 2, stderr: "tugboat: start takes no arguments (got now)\n" });
    const log = await runCli(["log", "--tries", "0", "hello"], { env });
    t.expect(log).toMatchObject({ code: 2, stderr: "tugboat: --tries must be a whole number from 1 to 100 (got 0)\n" });
  });
});

describe.concurrent("configuration errors exit 2 and name what to fix", () => {
  it("an unknown key names the key and where it is", async (t) => {
    const { dir, env } = sandbox(t);
    const config = writeConfig(dir, { ...consoleConfig(18080), web: { port: 18080, colour: "blue" } });
    writeFileSync(join(dir, "api-token"), "t0ken\n");
    const r = await runCli(["--config", config, "check-config"], { env });
    t.expect(r.code).toBe(2);
    t.expect(r.stdout).toBe("");
    t.expect(r.stderr).toContain(`tugboat: ${config}: invalid configuration`);
    t.expect(r.stderr).toMatch(/Unrecognized key: "colour"\n\s+→ at web\n/);
  });

  it("a bad value names its key path, through TUGBOAT_CONFIG and for start too", async (t) => {
    const { dir, env } = sandbox(t);
    const config = writeConfig(dir, { ...consoleConfig(18080), web: { port: 70000 } });
    writeFileSync(join(dir, "api-token"), "t0ken\n");
    for (const args of [["check-config"], ["start"]]) {
      const r = await runCli(args, { env: { ...env, TUGBOAT_CONFIG: config } });
      t.expect(r.code).toBe(2);
      t.expect(r.stderr).toMatch(/Too big: expected number to be <=65535\n\s+→ at web\.port\n/);
      t.expect(r.stderr).not.toContain("web UI at"); // it never started
    }
  });

  it("a missing secret environment variable names the variable and the key", async (t) => {
    const { dir, env } = sandbox(t);
    const config = writeConfig(dir, { ...consoleConfig(18080), api: { tokens: [{ name: "ci@e2e", token: { env: "TUGBOAT_TOKEN_CI" } }] } });
    const r = await runCli(["--config", config, "check-config"], { env });
    t.expect(r).toMatchObject({ code: 2, stderr: "tugboat: api.tokens.0.token: environment variable TUGBOAT_TOKEN_CI is not set\n" });
    const set = await runCli(["--config", config, "check-config"], { env: { ...env, TUGBOAT_TOKEN_CI: "s3cret" } });
    t.expect(set).toMatchObject({ code: 0, stdout: `${config}: configuration is valid (chat: console)\n` });
  });

  it("an unreadable config file or secret file is named with the reason", async (t) => {
    const { dir, env } = sandbox(t);
    const missing = join(dir, "nope.yaml");
    t.expect(await runCli(["--config", missing, "check-config"], { env })).toMatchObject({ code: 2, stderr: `tugboat: cannot read config file ${missing}: ENOENT\n` });
    // A directory where a file should be: unreadable even for root, unlike a chmod 000 file.
    t.expect(await runCli(["--config", dir, "check-config"], { env })).toMatchObject({ code: 2, stderr: `tugboat: cannot read config file ${dir}: EISDIR\n` });
    const config = writeConfig(dir, consoleConfig(18080)); // its token file, api-token, is not there
    t.expect(await runCli(["--config", config, "check-config"], { env })).toMatchObject({
      code: 2,
      stderr: `tugboat: api.tokens.0.token: cannot read secret file ${join(dir, "api-token")}: ENOENT\n`,
    });
    const broken = join(dir, "broken.yaml");
    writeFileSync(broken, "web: [port: 1\n");
    const yaml = await runCli(["--config", broken, "check-config"], { env });
    t.expect(yaml.code).toBe(2);
    t.expect(yaml.stderr).toMatch(new RegExp(`^tugboat: ${broken}: not valid YAML: `));
  });
});

describe.concurrent("check-config", () => {
  it("accepts config/example.yaml once its secrets exist", async (t) => {
    const { dir, env } = sandbox(t);
    const example = join(ROOT, "config", "example.yaml");
    const noEnv = await runCli(["--config", example, "check-config"], { env });
    t.expect(noEnv).toMatchObject({ code: 2, stderr: "tugboat: irc.sasl.password: environment variable TUGBOAT_SASL_PASSWORD is not set\n" });

    const secrets = { ...env, TUGBOAT_SASL_PASSWORD: "sasl-pw", TUGBOAT_TOKEN_L10NUPDATE: "l10n-token", GRAFANA_TOKEN: "grafana-token" };
    const noFile = await runCli(["--config", example, "check-config"], { env: secrets });
    t.expect(noFile).toMatchObject({ code: 2, stderr: "tugboat: api.tokens.1.token: cannot read secret file /etc/tugboat/scap.token: ENOENT\n" });

    // The same file with the scap token and the deploy key in the sandbox.
    const scapToken = join(dir, "scap.token");
    writeFileSync(scapToken, "scap-token\n");
    const deployKey = join(dir, "deploy_ed25519");
    writeFileSync(deployKey, "-----BEGIN OPENSSH PRIVATE KEY-----\nnot checked by check-config\n-----END OPENSSH PRIVATE KEY-----\n");
    const copy = join(dir, "example.yaml");
    copyFileSync(example, copy);
    const amToken = join(dir, "alertmanager.token");
    writeFileSync(amToken, "am-token\n");
    const icingaKey = join(dir, "icinga.key");
    writeFileSync(icingaKey, "icinga-hmac-key\n");
    writeFileSync(
      copy,
      readFileSync(copy, "utf8").replace("/etc/tugboat/scap.token", scapToken).replace("/etc/tugboat/deploy_ed25519", deployKey).replace("/etc/tugboat/alertmanager.token", amToken).replace("/etc/tugboat/icinga.key", icingaKey),
    );
    const ok = await runCli(["--config", copy, "check-config"], { env: secrets });
    t.expect(ok).toMatchObject({ code: 0, stdout: `${copy}: configuration is valid (chat: irc)\n`, stderr: "" });
  });

  it("accepts the embedded default on a fresh data directory", async (t) => {
    const { dir, env } = sandbox(t);
    const r = await runCli(["check-config"], { env: { ...env, TUGBOAT_DATA_DIR: join(dir, "fresh") } });
    t.expect(r).toMatchObject({ code: 0, stdout: "embedded default: configuration is valid (chat: console)\n", stderr: "" });
  });
});
