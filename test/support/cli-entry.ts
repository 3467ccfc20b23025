// The tugboat command from source, as bin/tugboat.js runs the build: for tests that need the CLI in
// a process of its own (`node --import tsx test/support/cli-entry.ts deploy ...`) without a build.
import { runCli } from "../../src/cli/run.js";
import { main } from "../../src/main.js";

runCli(main);
