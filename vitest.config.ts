import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration tests start real servers (and may install them on a fresh machine).
    testTimeout: 30_000,
    hookTimeout: 300_000,
    // One file at a time: the integration files start real fleets (dozens of sshd) and IRC servers on
    // 2 cores; in parallel they starve each other's deadlines, and the suite is no faster.
    fileParallelism: false,
    globalSetup: ["test/servers/global-setup.ts"],
    reporters: ["default"],
  },
});
