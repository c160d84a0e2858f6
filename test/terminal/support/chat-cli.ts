import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { runtimeBinary } from "../../support/runtimes.ts";

/** The repository root: every runtime runs the client from there. */
export const root = fileURLToPath(new URL("../../../", import.meta.url));

const entry = "clients/terminal/main.ts";

export type Runtime = "node" | "bun" | "deno";

/** The argv that runs the terminal client under `runtime`, as a user would. */
export function chatCommand(runtime: Runtime, args: readonly string[]): string[] {
  switch (runtime) {
    case "node":
      return [process.execPath, "--import", "tsx", entry, ...args];
    case "bun":
      return [runtimeBinary("bun"), entry, ...args];
    case "deno":
      return [
        runtimeBinary("deno"),
        "run",
        "--allow-net",
        "--allow-env",
        "--allow-read",
        entry,
        ...args,
      ];
  }
}

/** Environment of every client the tests start: a known $USER, no colours, no update checks. */
export const chatEnv: NodeJS.ProcessEnv = {
  ...process.env,
  USER: "tester",
  NO_COLOR: "1",
  DENO_NO_UPDATE_CHECK: "1",
};

const children = new Set<ChildProcess>();

function start(runtime: Runtime, args: readonly string[]): ChildProcess {
  const [file, ...rest] = chatCommand(runtime, args);
  const child = spawn(file as string, rest, { cwd: root, env: chatEnv, stdio: "pipe" });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** Kills every client still running; for `after` hooks. */
export function killChatProcesses(): void {
  for (const child of children) child.kill("SIGKILL");
  children.clear();
}

export interface ChatResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the client to completion (stdin closed); kills it after `timeoutMs`. */
export async function runChat(
  args: readonly string[],
  { runtime = "node", timeoutMs = 20_000 }: { runtime?: Runtime; timeoutMs?: number } = {},
): Promise<ChatResult> {
  const child = start(runtime, args);
  child.stdin?.end();
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A running `follow`, its output split into lines as they arrive. */
export interface FollowProcess {
  readonly lines: string[];
  stderr(): string;
  /** Resolves with the first `n` lines once they have arrived. */
  waitForLines(n: number, ms?: number): Promise<string[]>;
  /** Resolves once stderr matches `pattern`. */
  waitForStderr(pattern: RegExp, ms?: number): Promise<void>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function followChat(args: readonly string[], runtime: Runtime = "node"): FollowProcess {
  const child = start(runtime, ["follow", ...args]);
  const lines: string[] = [];
  let partial = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    const parts = (partial + d).split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exited = once(child, "exit").then(([code]) => code as number | null);

  async function until(done: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (child.exitCode !== null) {
        throw new Error(`follow exited (${child.exitCode}) before ${what}; stderr: ${stderr}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${what}; stdout: ${lines.join("\n")}; stderr: ${stderr}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  return {
    lines,
    stderr: () => stderr,
    async waitForLines(n, ms = 15_000) {
      await until(() => lines.length >= n, ms, `${n} lines`);
      return lines.slice(0, n);
    },
    async waitForStderr(pattern, ms = 15_000) {
      await until(() => pattern.test(stderr), ms, `stderr matching ${pattern}`);
    },
    async stop(signal = "SIGINT") {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
