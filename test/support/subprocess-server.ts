import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { rmSync } from "node:fs";
import type { Socket } from "node:net";
import { createInterface } from "node:readline";
import { repoRoot, serverCommand, type TestRuntime } from "./runtimes.ts";
import { makeTestDir } from "./temp-dir.ts";
import { ensureWebClientBuilt } from "./web-client.ts";

/** One pino line of the server's stdout. */
export interface LogEntry {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** `src/main.ts` running as a process of its own under a chosen runtime. */
export interface SubprocessServer {
  runtime: TestRuntime;
  /** From the startup line: `http://127.0.0.1:PORT` (or https). */
  url: string;
  port: number;
  child: ChildProcess;
  /** Every JSON line printed on stdout so far; the startup line is among them. */
  readonly log: LogEntry[];
  /** Every stderr line so far. */
  readonly stderr: string[];
  /** Sends `signal` to the server and resolves with how it exited (SIGKILL after `ms`). */
  stop(
    signal?: NodeJS.Signals,
    ms?: number,
  ): Promise<{ code: number | null; signal: string | null }>;
  /** Stops it with SIGTERM; rejects unless it exits 0. Removes a data directory it made. */
  close(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) killGroup(child);
});

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * Spawns `runtime` running the entry point in a process group of its own, so
 * that `killGroup` also reaches the `deno run` under a `deno task`. Not ref'd:
 * a failed test must not keep the test process alive; whatever is left when
 * it exits is killed.
 */
function spawnEntryPoint(
  runtime: TestRuntime,
  args: string[],
  { nodeArgs, ipc = false }: Pick<SubprocessOptions, "nodeArgs" | "ipc"> = {},
): ChildProcess {
  const { command, args: argv } = serverCommand(runtime, args, nodeArgs);
  const child = spawn(command, argv, {
    cwd: repoRoot,
    stdio: ipc ? ["ignore", "pipe", "pipe", "ipc"] : ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as Socket | null)?.unref();
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/** Collects stdout as pino lines and stderr as lines; resolves `started` with the startup line. */
function readOutput(child: ChildProcess) {
  const log: LogEntry[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (l) =>
    stderr.push(l),
  );
  const started = new Promise<LogEntry>((resolve) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      let entry: LogEntry;
      try {
        entry = JSON.parse(line) as LogEntry;
      } catch {
        entry = { level: 30, msg: line };
      }
      log.push(entry);
      if (entry.msg === "chat server listening") resolve(entry);
    });
  });
  return { log, stderr, started };
}

export interface SubprocessOptions {
  /** SQLite data directory to use and keep (a restart test reopens it). Default: a fresh one, removed on stop. */
  dataDir?: string;
  /** How long to wait for the startup line. Default 30 s (a loaded 2-core CI machine). */
  startMs?: number;
  /** Node's own options, after tsx's `--import` (a probe module, `--cpu-prof`). Node only; default none. */
  nodeArgs?: string[];
  /** An IPC channel to the server (`child.send`, "message"), for a probe module. Default: none. */
  ipc?: boolean;
}

/**
 * Spawns the entry point with `--port 0` and its own SQLite data directory,
 * then waits for the "chat server listening" line (so `--log-level` must
 * leave info on). Rejects with what the
 * process printed if it exits or stays silent.
 */
export async function spawnServer(
  runtime: TestRuntime,
  args: string[] = [],
  options: SubprocessOptions = {},
): Promise<SubprocessServer> {
  const { startMs = 30_000 } = options;
  // As `npm start` does: without the bundle the server warns at startup.
  await ensureWebClientBuilt();
  const dataDir = options.dataDir ?? makeTestDir(`server-${runtime}`);
  const removeDataDir = () => {
    if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
  };
  const child = spawnEntryPoint(runtime, ["--port", "0", "--data-dir", dataDir, ...args], options);
  const exited = once(child, "exit") as Promise<[number | null, string | null]>;
  const { log, stderr, started: listening } = readOutput(child);
  const exitedEarly = exited.then(([code, signal]) => {
    throw new Error(`${runtime} server exited (${code ?? signal}) before listening`);
  });
  let timer: NodeJS.Timeout | undefined;
  let started: LogEntry;
  try {
    started = await Promise.race([
      listening,
      exitedEarly,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${runtime} server did not start in ${startMs} ms`)),
          startMs,
        );
      }),
    ]);
  } catch (e) {
    killGroup(child);
    removeDataDir();
    const output = [...log.map((l) => JSON.stringify(l)), ...stderr].join("\n");
    throw new Error(`${(e as Error).message}\n${output}`);
  } finally {
    clearTimeout(timer);
  }
  const url = String(started.url);

  let stopping: Promise<{ code: number | null; signal: string | null }> | undefined;
  const stop = (signal: NodeJS.Signals = "SIGTERM", ms = 15_000) => {
    stopping ??= (async () => {
      // A signal to the leader only: `deno task` forwards it once to its child.
      if (signal === "SIGKILL") killGroup(child);
      else if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const killer = setTimeout(() => killGroup(child), ms);
      try {
        const [code, sig] = await exited;
        return { code, signal: sig };
      } finally {
        clearTimeout(killer);
        // Nothing of the group may outlive its leader.
        killGroup(child);
        removeDataDir();
      }
    })();
    return stopping;
  };
  return {
    runtime,
    url,
    port: Number(new URL(url).port),
    child,
    log,
    stderr,
    stop,
    async close() {
      const { code, signal } = await stop();
      if (code !== 0) {
        const tail = [...log.slice(-5).map((l) => JSON.stringify(l)), ...stderr.slice(-20)];
        throw new Error(`${runtime} server exited with ${code ?? signal}:\n${tail.join("\n")}`);
      }
    },
  };
}

/** How a short-lived run of the entry point ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the entry point with `args` (no --port added) to its exit; SIGKILL after `ms`. */
export async function runToExit(
  runtime: TestRuntime,
  args: string[],
  ms = 30_000,
): Promise<CliRun> {
  const child = spawnEntryPoint(runtime, args);
  const exited = once(child, "exit") as Promise<[number | null]>;
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  // Ref'd while it runs: here the test waits for nothing else.
  const timer = setTimeout(() => killGroup(child), ms);
  try {
    const [code] = await exited;
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
    killGroup(child);
  }
}
