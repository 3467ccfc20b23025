// The command registry: every chat command, in the order !help lists them.

import type { Command } from "../src/chat/command.js";
import { abort } from "./abort.js";
import { alerts } from "./alerts.js";
import { silence, unsilence } from "./silence.js";
import { continueRollout } from "./continue.js";
import { deploy } from "./deploy.js";
import { diff } from "./diff.js";
import { graphs } from "./graphs.js";
import { help } from "./help.js";
import { lock, unlock } from "./lock.js";
import { log } from "./log.js";
import { retry } from "./retry.js";
import { rollback } from "./rollback.js";
import { status } from "./status.js";
import { yes } from "./yes.js";

export const commands: readonly Command[] = [log, deploy, rollback, status, diff, abort, lock, unlock, yes, retry, continueRollout, alerts, silence, unsilence, graphs, help];
