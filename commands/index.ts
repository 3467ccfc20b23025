// The command registry: every chat command, in the order !help lists them.

import type { Command } from "../src/chat/command.js";
import { help } from "./help.js";
import { log } from "./log.js";

export const commands: readonly Command[] = [log, help];
