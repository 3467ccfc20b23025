// The fleet dashboard in a real browser (Debian's headless Chromium driven by playwright-core) against
// the whole bot during real deploys to the sshd test fleet: cells change state and colour as hosts
// progress, a failed and an unreachable host show as such, the legend is right, a reload and a dropped
// connection catch up, the deploy page replays the journal, the grid works from the keyboard, deploys
// run by `tugboat deploy` in another process show live (and one killed shows as interrupted), and
// 1,000 hosts render and follow a stream of patches (how fast: bench/fleet-page.ts).
// Screenshots go to test-artifacts/ (ignored by git).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigInput } from "../../src/config/schema.js";
import { TempDirs, UpstreamRepo } from "../fixtures/git-repos.js";
import { ensureDebianPackage } from "../servers/ensure-package.js";
import { startFleet, type Fleet } from "../servers/fleet.js";
import { startNgircd, type NgircdServer } from "../servers/ngircd.js";
import { startBot, until, type RunningBot } from "../support/bot.js";
import { connectClient, type IrcTestClient } from "../support/irc-test-client.js";

const ROOT = join(import.meta.dirname, "..", "..");
const ARTIFACTS = join(ROOT, "test-artifacts");
const BIG = 1000;
const temp = new TempDirs();
let irc: NgircdServer;
let fleet: Fleet;
let upstream: UpstreamRepo;
let bot: RunningBot;
let alice: IrcTestClient;
let context: BrowserContext;
let page: Page;
let profile: string;
const shas: string[] = [];
let proxy: DroppingProxy;
/** The bot's web UI through the proxy. */
let web: string;

/**
 * A TCP proxy in front of the bot that can drop every connection and refuse new ones for a while:
 * the network failing under an open page, as a load balancer restart or a flaky link does.
 */
class DroppingProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private isDown = false;
  constructor(target: number) {
    this.server = createServer((client) => {
      if (this.isDown) return void client.destroy();
      const upstream = createConnection(target, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }
  down(): void {
    this.isDown = true;
    for (const s of this.sockets) s.destroy();
  }
  up(): void {
    this.isDown = false;
  }
  close(): Promise<void> {
    this.down();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** The state and colour classes of a cell, e.g. ["s-done", "r0"]. */
async function cell(p: Page, key: string): Promise<{ state: string; colour: string; title: string }> {
  return p.locator(`i.c[data-k="${key}"]`).evaluate((el) => {
    const cls = [...el.classList];
    const text = (window as unknown as { tugboatGrid: { text(k: string): string } }).tugboatGrid.text(el.getAttribute("data-k")!);
    return { state: cls.find((c) => c.startsWith("s-"))!, colour: cls.find((c) => /^r[0-9u]$/.test(c))!, title: text };
  });
}

async function sayAndWait(text: string, done: RegExp, timeoutMs = 60_000): Promise<string> {
  const mark = alice.mark();
  alice.say("#operations", text);
  const m = await alice.waitFor((x) => x.nick === "tugboat" && done.test(x.params[1] ?? ""), { since: mark, timeoutMs });
  return m.params[1]!;
}

function config(): ConfigInput {
  const big = Array.from({ length: BIG }, (_, i) => ({ name: `big${String(i + 1).padStart(4, "0")}`, address: `127.0.${2 + Math.floor(i / 250)}.${1 + (i % 250)}`, port: 1, groups: [i < 20 ? "big-eqiad" : i < 600 ? "big-codfw" : "big-esams"] }));
  return {
    chat: "irc",
    irc: { host: "127.0.0.1", port: irc.port, tls: false, nick: "tugboat", channels: ["#operations"], reconnect: { minDelayMs: 200, maxDelayMs: 1000, stableAfterMs: 2000 }, flood: { burst: 10, intervalMs: 100 } },
    roles: { deployer: ["mask:alice!*@*"] },
    permissions: { deploy: { allow: ["role:deployer"] } },
    sal: { channels: { "#operations": {} } },
    web: { port: 0 },
    fleet: {
      transport: "ssh",
      ssh: { user: fleet.user, privateKey: { file: fleet.privateKeyPath }, knownHosts: fleet.knownHostsPath, handshakeTimeoutMs: 3000 },
      hosts: [
        ...fleet.hosts.map((h) => ({ name: h.name, address: h.address, port: h.port, groups: ["web"] })),
        { name: "tarpit", address: fleet.tarpit!.address, port: fleet.tarpit!.port, groups: ["web"] },
        ...big,
      ],
    },
    apps: {
      // A host's restart sleeps as long as its /srv/SLEEP says and fails while /srv/FAIL exists.
      api: {
        repo: upstream.dir, deployPath: "/srv/deployment/api", targets: ["web"], canaries: ["web01"], batchSize: 2, failureBudget: 2,
        restart: "sleep $(cat /srv/SLEEP 2>/dev/null || echo 0); if [ -e /srv/FAIL ]; then echo 'listen tcp :8080: bind: address already in use' >&2; exit 3; fi",
        timeouts: { restartSec: 20, promoteSec: 10, prepareSec: 60, censusSec: 5 },
      },
      big: { repo: upstream.dir, deployPath: "/srv/deployment/big", targets: ["big-eqiad", "big-codfw", "big-esams"], canaries: ["big0001", "big0002"] },
    },
    log: { level: "warn" },
  };
}

beforeAll(async () => {
  await ensureDebianPackage("chromium", "chromium");
  mkdirSync(ARTIFACTS, { recursive: true });
  [irc, fleet] = await Promise.all([startNgircd({ fast: true }), startFleet({ hosts: 6, special: { tarpit: true } })]);
  upstream = UpstreamRepo.create(temp.make("tugboat-upstream-"));
  const files: Record<string, string> = {};
  for (let i = 0; i < 100; i++) files[`src/f${i}.php`] = `<?php // ${i}\n`;
  shas.push(upstream.commit(files, "v1"));
  const cfg = config();
  bot = await startBot({ port: irc.port, config: cfg, irc: cfg.irc as Record<string, unknown>, sshPrivateKey: readFileSync(fleet.privateKeyPath, "utf8"), deployTiming: { progressEveryMs: 0 }, dataDir: temp.make("tugboat-dashboard-") });
  await until(() => bot.chat.status().connected, 10_000, "bot joined");
  proxy = new DroppingProxy(Number(new URL(bot.url).port));
  web = await proxy.listen();
  alice = await connectClient({ host: irc.host, port: irc.port, nick: "alice" });
  await alice.join("#operations");
  profile = mkdtempSync(join(tmpdir(), "tugboat-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
}, 180_000);

afterAll(async () => {
  await context?.close();
  await proxy?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  alice?.destroy();
  await bot?.stop();
  await fleet?.stop();
  await irc?.stop();
  temp.removeAll();
});

describe("the fleet dashboard during a real deploy", () => {
  it("shows hosts progress, a failed and an unreachable host, the legend, and catches up after a reload and a dropped stream", async () => {
    const first = await sayAndWait("!deploy api -- first version, v1", /deploy #1 api .*(SUCCEEDED|FAILED)/);
    expect(first).toMatch(/SUCCEEDED on 6\/7 hosts/);
    await page.goto(`${web}/fleet?app=api`);
    // After the deploy, the board's census shows every host on v1, the tarpit unreachable.
    await page.waitForFunction(() => document.querySelector('i.c[data-k="api/web06"]')?.classList.contains("r0"));
    expect(await cell(page, "api/web01")).toMatchObject({ state: "s-done", colour: "r0" });
    expect(await cell(page, "api/tarpit")).toMatchObject({ state: "s-unreachable", colour: "ru" });
    expect((await cell(page, "api/tarpit")).title).toMatch(/no SSH handshake/);
    expect(await page.locator("#legend-api li[data-sha]").allTextContents()).toEqual([expect.stringMatching(new RegExp(`^ ${shas[0]!.slice(0, 7)} newest, shipped \\d.* ago, 6 hosts$`))]);
    // The canaries come first.
    expect(await page.locator('section[data-app="api"] h3').allTextContents()).toEqual(["canaries (1)", "web (6)"]);
    await page.waitForFunction(() => document.getElementById("fleet-live")?.dataset.state === "live");

    // Record every class change of web02's and web04's cells from now on.
    await page.evaluate(() => {
      const w = window as unknown as { seen: Record<string, string[]> };
      w.seen = {};
      for (const k of ["api/web02", "api/web04"]) {
        w.seen[k] = [];
        const el = document.querySelector(`i.c[data-k="${k}"]`)!;
        new MutationObserver(() => w.seen[k]!.push(el.className)).observe(el, { attributes: true, attributeFilter: ["class"] });
      }
    });
    for (const h of fleet.hosts) writeFileSync(join(h.srv, "SLEEP"), "1.5\n");
    writeFileSync(join(fleet.hosts[3]!.srv, "FAIL"), "");
    shas.push(upstream.commit({ "src/f1.php": "<?php // v2\n" }, "v2"));
    const [v1, v2] = [shas[0]!.slice(0, 7), shas[1]!.slice(0, 7)];
    const mark = alice.mark();
    alice.say("#operations", "!deploy api -- second version, v2");

    // Mid-deploy: the canary switched to v2 (blue), the rest still on v1 (orange) with a legend of both.
    await page.waitForFunction(() => document.querySelector('i.c[data-k="api/web01"]')?.classList.contains("s-restarting"), undefined, { timeout: 30_000 });
    const legend = await page.locator("#legend-api li[data-sha]").allTextContents();
    expect(legend).toEqual([expect.stringMatching(new RegExp(`^ ${v2} newest, shipped \\d+(\\.\\d)?m?s ago, 1 host$`)), expect.stringMatching(new RegExp(`^ ${v1} previous, shipped .* ago, 5 hosts$`))]);
    const colours = await page.evaluate(() => ["r0", "r1"].map((r) => getComputedStyle(document.querySelector(`#legend-api .${r}`)!).backgroundColor));
    expect(colours[0]).not.toBe(colours[1]);
    expect(await cell(page, "api/web01")).toMatchObject({ colour: "r0" });
    expect(await cell(page, "api/web05")).toMatchObject({ state: "s-idle", colour: "r1" });
    expect(await page.locator("#progress-api").getAttribute("data-state")).toBe("running");
    expect(await page.locator("#progress-api .line").textContent()).toMatch(new RegExp(`^deploy #2 api ${v1}\\.\\.${v2}: `));

    // A reload mid-deploy shows the state now and keeps following.
    await page.waitForFunction(() => document.querySelector('i.c[data-k="api/web02"]')?.classList.contains("s-preparing") || document.querySelector('i.c[data-k="api/web02"]')?.classList.contains("s-switching") || document.querySelector('i.c[data-k="api/web02"]')?.classList.contains("s-restarting"), undefined, { timeout: 30_000 });
    await page.screenshot({ path: join(ARTIFACTS, "fleet-mid-deploy.png"), fullPage: true });
    const seenBeforeReload = await page.evaluate(() => (window as unknown as { seen: Record<string, string[]> }).seen);
    await page.reload();
    expect(await page.locator("#progress-api").getAttribute("data-state")).toBe("running");
    expect(["s-preparing", "s-switching", "s-restarting", "s-checking", "s-done"]).toContain((await cell(page, "api/web02")).state);
    expect(await cell(page, "api/web01")).toMatchObject({ state: "s-done", colour: "r0" });
    await page.waitForFunction(() => document.getElementById("fleet-live")?.dataset.state === "live");
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));

    // The connection drops and stays down while hosts progress; back up, the browser reconnects by
    // itself with Last-Event-ID and catches up, without a reload.
    proxy.down();
    await page.waitForFunction(() => document.getElementById("fleet-live")?.dataset.state === "reconnecting", undefined, { timeout: 10_000 });
    const before = await page.evaluate(() => (window as unknown as { tugboatGrid: { opens: number } }).tugboatGrid.opens);
    await alice.waitFor((x) => x.nick === "tugboat" && /batch 1 2\/2/.test(x.params[1] ?? ""), { since: mark, timeoutMs: 30_000 });
    proxy.up();
    const final = (await alice.waitFor((x) => x.nick === "tugboat" && /deploy #2 api .*(SUCCEEDED|FAILED|ROLLED BACK)/.test(x.params[1] ?? ""), { since: mark, timeoutMs: 60_000 })).params[1]!;
    expect(final).toMatch(/SUCCEEDED on 5\/7 hosts.*restart failed \(exit 3\): web04.*SSH handshake timed out: tarpit/);
    await page.waitForFunction(() => document.getElementById("progress-api")?.dataset.state === "finished", undefined, { timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    expect(await page.evaluate(() => (window as unknown as { tugboatGrid: { opens: number } }).tugboatGrid.opens)).toBeGreaterThan(before);

    // The outcome: web04 failed on v2 with the error's tail, the tarpit unreachable, the rest done on v2.
    for (const h of ["web01", "web02", "web03", "web05", "web06"]) expect(await cell(page, `api/${h}`)).toMatchObject({ state: "s-done", colour: "r0" });
    const web04 = await cell(page, "api/web04");
    expect(web04).toMatchObject({ state: "s-failed", colour: "r0" });
    expect(web04.title).toMatch(/^web04 \(api\): failed\nrelease [0-9a-f]{7} \(newest\)\nlast step: restart failed, \d/);
    expect(web04.title).toMatch(/address already in use/);
    expect(await page.locator('i.c[data-k="api/web04"]').textContent()).toBe("F");
    expect(await page.locator('i.c[data-k="api/tarpit"]').textContent()).toBe("U");
    await page.waitForFunction((n) => document.querySelectorAll("#legend-api li[data-sha]").length === n, 1);
    expect(await page.locator("#legend-api li[data-sha]").allTextContents()).toEqual([expect.stringMatching(new RegExp(`^ ${v2} newest, .*, 6 hosts$`))]);
    await page.locator('i.c[data-k="api/web04"]').click();
    await expect.poll(() => page.locator("#cell-detail pre").textContent()).toMatch(/restart failed[\s\S]*address already in use/);
    await page.screenshot({ path: join(ARTIFACTS, "fleet-after-deploy.png"), fullPage: true });

    // Before the reload, web02 was seen on v1 (the previous release's colour) and in progress: live updates.
    expect(seenBeforeReload["api/web02"]!.some((c) => /s-(preparing|switching|restarting)/.test(c))).toBe(true);
    expect(seenBeforeReload["api/web02"]!.some((c) => / r1$/.test(c))).toBe(true);

    // The deploy page replays the same grid from the journal.
    await page.goto(`${web}/deploys/2`);
    expect(await cell(page, "api/web04")).toMatchObject({ state: "s-failed", colour: "r0" });
    expect(await cell(page, "api/tarpit")).toMatchObject({ state: "s-unreachable" });
    expect(await cell(page, "api/web06")).toMatchObject({ state: "s-done", colour: "r0" });
    await page.locator("#replay-pos").fill("0");
    expect(await cell(page, "api/web06")).toMatchObject({ state: "s-idle", colour: "r1" });
    await page.locator("#replay-play").click();
    await page.waitForFunction(() => { const r = document.getElementById("fleet")!; return Number(r.dataset.frame) > 0 && document.querySelector('i.c[data-k="api/web01"]')!.classList.contains("r0"); }, undefined, { timeout: 15_000 });
    await page.screenshot({ path: join(ARTIFACTS, "deploy-page-replay.png"), fullPage: true });
  }, 150_000);

  it("works from the keyboard: one tab stop, arrows follow the wrapped grid, Enter and Space pin a host's details, Escape closes them", async () => {
    await page.goto(`${web}/fleet?app=api`);
    await page.waitForFunction(() => document.getElementById("fleet-live")?.dataset.state === "live");
    const focused = () => page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.k ?? document.activeElement?.tagName ?? null);
    // From the top of the page, Tab passes the links and stops once in the grid: on its first cell.
    for (let tabs = 0; !(await focused())?.startsWith("api/"); tabs++) {
      if (tabs > 30) throw new Error("Tab never reached the grid");
      await page.keyboard.press("Tab");
    }
    expect(await focused()).toBe("api/web01");
    expect(await page.locator("i.c[tabindex='0']").count()).toBe(1);
    const ring = await page.evaluate(() => getComputedStyle(document.activeElement!).boxShadow);
    expect(ring).not.toBe("none");
    // The cell's name says host, state and release in words; the grid is named after app and group.
    expect(await page.getByRole("gridcell", { name: /^web01 \(api\): done, release [0-9a-f]{7} \(newest\)$/ }).evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await page.getByRole("grid", { name: "api web" }).count()).toBe(1);

    const keys: Array<[string, string]> = [["ArrowDown", "api/web02"], ["ArrowRight", "api/web03"], ["End", "api/tarpit"], ["Home", "api/web02"], ["ArrowUp", "api/web01"], ["ArrowLeft", "api/web01"], ["ArrowRight", "api/web02"], ["ArrowRight", "api/web03"], ["ArrowRight", "api/web04"]];
    for (const [key, want] of keys) {
      await page.keyboard.press(key);
      expect([key, await focused()]).toEqual([key, want]);
    }
    // The roving tab stop moved along; focus shows the details as hover does, Enter pins them.
    expect(await page.locator("i.c[tabindex='0']").getAttribute("data-k")).toBe("api/web04");
    expect(await page.locator('i.c[data-k="api/web04"]').getAttribute("aria-label")).toMatch(/^web04 \(api\): failed, release [0-9a-f]{7} \(newest\)$/);
    await page.keyboard.press("Enter");
    expect(await page.locator("#cell-detail").isVisible()).toBe(true);
    expect(await page.locator("#cell-detail button").isVisible()).toBe(true);
    expect(await page.locator("#cell-detail pre").textContent()).toMatch(/^web04 \(api\): failed\n[\s\S]*address already in use/);
    // Pinned: moving on keeps web04's details until Escape.
    await page.keyboard.press("ArrowRight");
    expect(await focused()).toBe("api/web05");
    expect(await page.locator("#cell-detail pre").textContent()).toMatch(/^web04 \(api\)/);
    await page.screenshot({ path: join(ARTIFACTS, "fleet-keyboard-pinned.png") });
    await page.keyboard.press("Escape");
    expect(await page.locator("#cell-detail").isHidden()).toBe(true);
    expect(await focused()).toBe("api/web05");
    // Space pins too, and the close button gives the focus back to the cell.
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.press(" ");
    expect(await page.locator("#cell-detail button").isVisible()).toBe(true);
    expect(await page.locator("#cell-detail pre").textContent()).toMatch(/^web04 \(api\): failed/);
    await page.locator("#cell-detail button").click();
    expect(await page.locator("#cell-detail").isHidden()).toBe(true);
    expect(await focused()).toBe("api/web04");
    expect(await page.evaluate(() => window.scrollY)).toBe(0); // Space did not scroll the page
  }, 60_000);

  it("shows live a deploy that `tugboat deploy` runs in another process, and one whose process is killed as interrupted", async () => {
    const cfgPath = join(temp.make("tugboat-cli-"), "tugboat.json");
    writeFileSync(cfgPath, JSON.stringify(config()));
    const cli = (...args: string[]) => {
      const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "test", "support", "cli-entry.ts"), "--config", cfgPath, "--data-dir", bot.dataDir, "--nick", "carol", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      const exited = new Promise<{ code: number | null; out: string }>((resolve) => child.on("exit", (code) => resolve({ code, out })));
      return { child, exited };
    };
    await page.goto(`${web}/fleet?app=api`);
    await page.waitForFunction(() => document.getElementById("fleet-live")?.dataset.state === "live");
    await page.evaluate(() => {
      const w = window as unknown as { seen05: string[] };
      w.seen05 = [];
      const el = document.querySelector('i.c[data-k="api/web05"]')!;
      new MutationObserver(() => w.seen05.push(el.className)).observe(el, { attributes: true, attributeFilter: ["class"] });
    });
    shas.push(upstream.commit({ "src/f2.php": "<?php // v3\n" }, "v3"));
    const v3 = shas[2]!.slice(0, 7);
    const run = cli("deploy", "api", "-m", "v3 from a terminal");
    // The bot did not start this deploy: it learns of it from the journal and shows it running.
    await page.waitForFunction(() => document.getElementById("progress-api")?.dataset.state === "running" && /^deploy #3 api /.test(document.querySelector("#progress-api .line")?.textContent ?? ""), undefined, { timeout: 60_000 });
    await page.waitForFunction(() => document.querySelector('i.c[data-k="api/web01"]')?.classList.contains("s-restarting"), undefined, { timeout: 30_000 });
    await page.screenshot({ path: join(ARTIFACTS, "fleet-cli-deploy-running.png"), fullPage: true });
    const done = await run.exited;
    expect(done.out).toMatch(/deploy #3 api [0-9a-f]{7}\.\.[0-9a-f]{7}: succeeded: 5\/7 hosts ok/);
    expect(done.code).toBe(1); // web04's restart fails, the tarpit is unreachable
    await page.waitForFunction(() => document.getElementById("progress-api")?.dataset.state === "finished", undefined, { timeout: 15_000 });
    expect(await page.locator("#progress-api .line").textContent()).toMatch(/^succeeded: 5\/7 hosts ok/);
    for (const h of ["web01", "web02", "web05", "web06"]) expect(await cell(page, `api/${h}`)).toMatchObject({ state: "s-done", colour: "r0" });
    expect(await cell(page, "api/web04")).toMatchObject({ state: "s-failed" });
    expect((await cell(page, "api/web04")).title).toMatch(/address already in use/);
    expect(await cell(page, "api/tarpit")).toMatchObject({ state: "s-unreachable" });
    await page.waitForFunction((sha) => document.querySelector("#legend-api li[data-sha]")?.textContent?.includes(`${sha} newest`), v3, { timeout: 15_000 });
    // web05 went through the steps live (prepare and the switch are often one poll of the journal apart:
    // switching on the previous release's colour, or restarting on the new one's).
    const seen = await page.evaluate(() => (window as unknown as { seen05: string[] }).seen05);
    expect(seen.some((c) => /s-(switching r1|restarting r0)$/.test(c))).toBe(true);
    expect(seen.at(-1)).toMatch(/s-done r0$/);

    // The CLI is killed mid-deploy: the journal says running, the process is gone; the board says so.
    for (const h of fleet.hosts) writeFileSync(join(h.srv, "SLEEP"), "5\n");
    shas.push(upstream.commit({ "src/f3.php": "<?php // v4\n" }, "v4"));
    const killed = cli("deploy", "api", "-m", "v4, to be killed");
    await page.waitForFunction(() => /^deploy #4 api /.test(document.querySelector("#progress-api .line")?.textContent ?? "") && document.querySelector('i.c[data-k="api/web01"]')?.classList.contains("s-restarting"), undefined, { timeout: 60_000 });
    killed.child.kill("SIGKILL");
    await page.waitForFunction(() => document.getElementById("progress-api")?.dataset.state === "finished", undefined, { timeout: 15_000 });
    expect(await page.locator("#progress-api .line").textContent()).toMatch(/^interrupted: the process running it \(pid \d+\) stopped; unlock api to clear it$/);
    expect(await cell(page, "api/web02")).toMatchObject({ state: "s-idle" });
    await page.screenshot({ path: join(ARTIFACTS, "fleet-cli-deploy-killed.png"), fullPage: true });
    const unlock = await cli("unlock", "api").exited;
    expect(unlock).toMatchObject({ code: 0, out: expect.stringMatching(/cleared stale deploy #4 by carol/) });
    for (const h of fleet.hosts) writeFileSync(join(h.srv, "SLEEP"), "0\n");
  }, 180_000);

  it(`renders ${BIG} hosts, gzipped, and applies a stream of patches to them`, async () => {
    await page.goto(`${web}/fleet?app=big`); // starts the board's census of the 1,000 hosts
    await until(() => page.evaluate(() => !document.querySelector("#progress-big")!.textContent!.includes("idle")), 30_000, "the census of big");
    const response = await page.goto(`${web}/fleet?app=big`);
    expect(response!.headers()["content-encoding"]).toBe("gzip");
    expect(await page.locator("i.c[data-k]").count()).toBe(BIG);
    expect(await page.locator('[role="grid"]').count()).toBe(4); // canaries and three groups
    expect((await cell(page, "big/big0500")).title).toMatch(/^big0500 \(big\): unreachable/);
    await page.screenshot({ path: join(ARTIFACTS, "fleet-1000-hosts.png") });
    // 40 messages 50 ms apart, every 4th recolouring all 1,000 cells (a legend change), as the stream's
    // messages are applied; the grid ends as the last patch says. (Timings: npm run bench -- fleet-page.)
    const last = await page.evaluate(async () => {
      const api = (window as unknown as { tugboatGrid: { apply(p: unknown): void } }).tugboatGrid;
      const states = ["preparing", "switching", "restarting", "checking", "done", "failed"];
      const letters = ["P", "S", "R", "C", "✓", "F"];
      const keys = [...document.querySelectorAll<HTMLElement>("i.c[data-k]")].map((el) => el.dataset.k!);
      const final = new Map<string, string>();
      for (let m = 0; m < 40; m++) {
        const all = m % 4 === 0;
        const cells = (all ? keys : keys.filter((_, i) => (i + m) % 10 === 0)).map((k, i) => { const s = (i + m) % states.length; return { k, s: states[s], c: (i + m) % 3, l: letters[s], t: `${k}: ${states[s]}` }; });
        api.apply({ cells, html: {} });
        for (const c of cells) final.set(c.k, `c s-${c.s} r${c.c}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return keys.filter((k) => document.querySelector(`i.c[data-k="${k}"]`)!.className !== final.get(k)).length;
    });
    expect(last).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, "fleet-1000-hosts-after-synthetic-stream.png") });
  }, 90_000);
});
