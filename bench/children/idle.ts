// Child process: loads nothing but the benchmark's child plumbing under node + tsx, as the bot and
// the baseline server do. Its RSS is the floor both of theirs include (node itself, tsx's loader).

import { memoryMiB, serveParent } from "../lib/child.js";

serveParent({}, { status: () => ({ memory: memoryMiB(), entries: 0 }) }, async () => {});
