import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * The runtimes the server is tested on. "node" is the Node that runs the
 * tests (Node 20 in CI); "node-lts", "bun" and "deno" are the npm
 * registry's `node`, `bun` and `deno` packages at pinned versions, fetched
 * into npm's cache when first needed (not by `npm install`: only the tests
 * and the `start:*` scripts of other runtimes use them).
 */
export const testRuntimes = ["node", "node-lts", "bun", "deno"] as const;
export type TestRuntime = (typeof testRuntimes)[number];

/** The Node LTS line tested, pinned so that CI is reproducible (26 is LTS since 2026-10-28). */
export const nodeLtsPackage = "node@26.10.0";

/** The Bun and Deno tested; package.json's `start:bun` and `start:deno` name the same. */
export const runtimePackages = { bun: "bun@1.4.5", deno: "deno@2.9.6" } as const;

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The pinned Bun or Deno executable: `CHAT_BUN_BIN` / `CHAT_DENO_BIN` when
 * set, else the npm package's, through `npm exec` (a download into npm's
 * cache the first time, about 5 s, reused afterwards).
 */
export function runtimeBinary(name: "bun" | "deno"): string {
  const variable = name === "bun" ? "CHAT_BUN_BIN" : "CHAT_DENO_BIN";
  const fromEnv = process.env[variable];
  if (fromEnv) return fromEnv;
  const resolved = fetchedBinary(runtimePackages[name], `command -v ${name}`);
  process.env[variable] = resolved;
  return resolved;
}

/** Runs `shell` with `pkg` installed by `npm exec`; its output, trimmed. */
function fetchedBinary(pkg: string, shell: string): string {
  return execFileSync("npm", ["exec", "--yes", `--package=${pkg}`, "--", "sh", "-c", shell], {
    cwd: repoRoot,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

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
  const resolved = fetchedBinary(nodeLtsPackage, 'node -p "process.execPath"');
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
      return { command: runtimeBinary("bun"), args: ["src/main.ts", ...args] };
    case "deno":
      return { command: runtimeBinary("deno"), args: ["task", "--quiet", "start", ...args] };
  }
}

/** `name version` of a runtime, as its own --version says (for reports). */
export function runtimeVersion(runtime: TestRuntime): string {
  const command =
    runtime === "node"
      ? process.execPath
      : runtime === "node-lts"
        ? nodeLtsBinary()
        : runtimeBinary(runtime);
  const out = execFileSync(command, ["--version"], { encoding: "utf8" });
  const version = /\d+\.\d+\.\d+/.exec(out)?.[0] ?? out.trim();
  return `${runtime === "node-lts" ? "node" : runtime} ${version}`;
}
