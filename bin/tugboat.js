#!/usr/bin/env node
// The tugboat command: runs the compiled entry point (npm install builds it).
import { main } from "../dist/src/main.js";
import { runCli } from "../dist/src/cli/run.js";

runCli(main);
