import { chosenRuntime, type TestRuntime } from "../support/runtimes.ts";

/**
 * The runtime the specs in this folder start the server on: the one named by
 * `CHAT_TEST_RUNTIME`, or Node (the one running the tests) under `npm test`.
 * These specs need a real process (signals, exit codes, the startup line), so
 * they never run the server in-process.
 */
export const runtimeUnderTest: TestRuntime = chosenRuntime() ?? "node";
