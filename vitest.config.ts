import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration tests start real servers (and may install them on a fresh machine).
    testTimeout: 30_000,
    hookTimeout: 300_000,
    globalSetup: ["test/servers/global-setup.ts"],
    reporters: ["default"],
  },
});
