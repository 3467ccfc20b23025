// SalFollower: entries other processes write to the SAL are announced once; the bot's own are not
// announced again; what was there before the bot started is not announced at all.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { NewSalEntry, SalEntry } from "../../src/sal/entry.js";
import { SalFollower } from "../../src/sal/follower.js";
import { SalService } from "../../src/sal/service.js";
import { MemorySalStore } from "../fakes/memory-sal-store.js";
import { testConfig } from "../support/fake-services.js";

const foreign = (message: string): NewSalEntry => ({
  nick: "dana", account: null, mask: null, channel: "#operations", project: null, message, source: "cli", identity: "dana@deploy1", deployId: 3, task: null,
});

describe("SalFollower", () => {
  it("announces what other writers add, once, and never the bot's own entries or older ones", async () => {
    const store = new MemorySalStore();
    const sal = new SalService(store, testConfig({}).sal);
    const announced: SalEntry[] = [];
    const follower = new SalFollower({ sal, announce: (e) => announced.push(e), log: pino({ level: "silent" }), everyMs: 60_000 });
    await store.append(foreign("before the bot started"));
    await follower.start();
    // The bot's own entry (announced by its own listener when written), then another process's two.
    await sal.log({ nick: "ci", message: "from the API", source: "api", channel: "#operations", identity: "ci@e2e" });
    await store.append(foreign("Started deploy app 0123456..abc1234 (1 commit): ship it"));
    await store.append(foreign("Finished deploy app 0123456..abc1234 (1 commit, +1/-1) to 2/2 hosts in 1.2s: ship it"));
    await follower.poll();
    await follower.poll();
    expect(announced.map((e) => e.message)).toEqual([
      "Started deploy app 0123456..abc1234 (1 commit): ship it",
      "Finished deploy app 0123456..abc1234 (1 commit, +1/-1) to 2/2 hosts in 1.2s: ship it",
    ]);
    // More than one read's worth (100) arriving at once: all of them, in order.
    for (let i = 0; i < 250; i++) await store.append(foreign(`entry ${i}`));
    await follower.poll();
    expect(announced.slice(2).map((e) => e.message)).toEqual(Array.from({ length: 250 }, (_, i) => `entry ${i}`));
    await follower.stop();
  });
});
