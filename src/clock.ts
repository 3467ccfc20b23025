// The real clock, for adapters and main.ts; pure code takes a Clock parameter instead.
import type { Clock } from "./chat/outbound-queue.js";

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
