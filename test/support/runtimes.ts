import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * The runtimes the server is tested on. "node" is the Node that runs the
 * tests (Node 20 in CI), "node-lts" the current LTS from the npm registry's
 * `node` package, "bun" and "deno" the npm packages in devDependencies.
 */
export const testRuntimes = ["node", "node-lts", "bun", "deno"] as const;
export type TestRuntime = (typeof testRuntimes)[number];

/** The Node LTS line tested, pinned so that CI is reproducible (26 is LTS since 2026-10-28). */
export const nodeLtsPackage = "node@26.10.0";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const bin = (name: string) =>
  fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url));

/**
 * The runtime chosen by `CHAT_TEST_RUNTIME`; undefined when unset, which
 * means "in this process" for the e2e suite.
 */
export function chosenRuntime(): TestRuntime | undefined {
  const value = process.env.CHAT_TEST_RUNTIME;
  if (value === undefined || value === "") return undefined;
  if (!(testRuntimes as readonly string[]).includes(value)) {
    throw new Error(`CHAT_TEST_RUNTIME must be one of ${testRuntimes.join(", ")}, got ${value}`);
  }
  return value as TestRuntime;
}

/**
 * The Node LTS binary: `CHAT_NODE_LTS_BIN` when set (the matrix runner sets
 * it), else resolved through `npm exec`, which downloads the pinned package
 * into npm's cache once (about 10 s, 270 MB) and reuses it afterwards.
 */
export function nodeLtsBinary(): string {
  const fromEnv = process.env.CHAT_NODE_LTS_BIN;
  if (fromEnv) return fromEnv;
  const resolved = execFileSync(
    "npm",
    ["exec", "--yes", `--package=${nodeLtsPackage}`, "--", "node", "-p", "process.execPath"],
    { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  ).trim();
  process.env.CHAT_NODE_LTS_BIN = resolved;
  return resolved;
}

/** A command line: executable and arguments, run in the repository root. */
export interface Command {
  command: string;
  args: string[];
}

/**
 * How each runtime runs the entry point, the way docs/runtimes.md tells a
 * user to: Node 20 through tsx (as `npm start`), Node LTS with its built-in
 * type stripping, Bun directly, Deno through the `deno.json` task, so that
 * its permissions are the ones tested. `nodeArgs` are Node's own options
 * (the benchmarks' `--expose-gc`, a probe to `--import`): Node only.
 */
export function serverCommand(
  runtime: TestRuntime,
  args: string[],
  nodeArgs: string[] = [],
): Command {
  if (nodeArgs.length > 0 && runtime !== "node" && runtime !== "node-lts") {
    throw new Error(`Node options given for ${runtime}: ${nodeArgs.join(" ")}`);
  }
  switch (runtime) {
    case "node":
      return {
        command: process.execPath,
        args: ["--import", "tsx", ...nodeArgs, "src/main.ts", ...args],
      };
    case "node-lts":
      return { command: nodeLtsBinary(), args: [...nodeArgs, "src/main.ts", ...args] };
    case "bun":
      return { command: bin("bun"), args: ["src/main.ts", ...args] };
    case "deno":
      return { command: bin("deno"), args: ["task", "--quiet", "start", ...args] };
  }
}

/** `name version` of a runtime, as its own --version says (for reports). */
export function runtimeVersion(runtime: TestRuntime): string {
  const command =
    runtime === "node" ? process.execPath : runtime === "node-lts" ? nodeLtsBinary() : bin(runtime);
  const out = execFileSync(command, ["--version"], { encoding: "utf8" });
  const version = /\d+\.\d+\.\d+/.exec(out)?.[0] ?? out.trim();
  return `${runtime === "node-lts" ? "node" : runtime} ${version}`;
}
