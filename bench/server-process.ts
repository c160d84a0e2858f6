/**
 * The chat server as a separate child process, measured from outside through /proc:
 * the child is `node` itself (not an npx/tsx wrapper), so its pid's CPU time and RSS
 * are the server's alone.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { spawnServer } from "../test/support/subprocess-server.ts";
import type { ProbeCommand, ProbeReport } from "./gc-probe.ts";

const clockTicks = readClockTicks();

export interface ServerProcess {
  readonly pid: number;
  readonly baseUrl: string;
  /**
   * Several instances of one chat (bench/scale-out.ts): subscribers are
   * spread over these URLs, round robin. Default: `baseUrl` alone.
   */
  readonly baseUrls?: readonly string[];
  /** CPU seconds (user + system, all threads) and RSS now. */
  sample(): ProcSample;
  /** Open file descriptors of the server: listening socket, connections, pipes, ... */
  openFds(): number;
  /** Memory and GC counters of the server; with "gc", memory after a forced full GC. */
  probe(command: ProbeCommand): Promise<ProbeReport>;
  /** Log lines the server wrote (warn level and above), for the report. */
  readonly logLines: readonly string[];
  /** SIGTERM, then SIGKILL if it has not exited within 3 s. Idempotent. */
  stop(): Promise<void>;
}

export interface ProcSample {
  /** `performance.now()` of the sample, in ms. */
  atMs: number;
  cpuSeconds: number;
  /** CPU seconds of the main thread alone (the JS event loop; not V8 helpers or tsx's loader thread). */
  mainThreadCpuSeconds: number;
  rssBytes: number;
}

// Ctrl-C ends the bench through "exit", where spawnServer kills what it started.
process.once("SIGINT", () => process.exit(130));

/** Pino's warn level: what the report shows of the server's log. */
const warnLevel = 40;

/**
 * Spawns `src/main.ts` under Node on a free loopback port (test/support's
 * spawnServer: its startup line says when it listens) and resolves once it
 * does. `appArgs` go to the server, `nodeArgs` to node (e.g. `--cpu-prof`
 * for a profile); `dataDir` is a SQLite directory to use, default a fresh
 * one, removed on stop.
 */
export async function spawnBenchServer(
  appArgs: readonly string[] = [],
  nodeArgs: readonly string[] = [],
  dataDir?: string,
): Promise<ServerProcess> {
  const server = await spawnServer(
    "node",
    [
      "--host",
      "127.0.0.1",
      "--shutdown-timeout-ms",
      "500",
      // Every benchmark client connects from 127.0.0.1 (HTTP/1.1 streams: one connection each).
      "--max-connections-per-ip",
      "0",
      ...appArgs,
    ],
    {
      dataDir,
      nodeArgs: [...nodeArgs, "--expose-gc", "--import", "./bench/gc-probe.ts"],
      ipc: true,
    },
  );
  const { child } = server;
  const pid = child.pid as number;
  const probeWaiters: ((report: ProbeReport) => void)[] = [];
  child.on("message", (report: ProbeReport) => probeWaiters.shift()?.(report));
  return {
    pid,
    baseUrl: server.url,
    get logLines() {
      return [
        ...server.log.filter((l) => l.level >= warnLevel).map((l) => JSON.stringify(l)),
        ...server.stderr,
      ];
    },
    sample: () => readProc(pid),
    openFds: () => readdirSync(`/proc/${pid}/fd`).length,
    probe(command) {
      const report = new Promise<ProbeReport>((resolve) => probeWaiters.push(resolve));
      child.send(command);
      return withTimeout(report, 5000, `the server's answer to "${command}"`);
    },
    async stop() {
      await server.stop("SIGTERM", 3000);
    },
  };
}

/** CPU time and RSS of any process (Redis, nginx), as `ServerProcess.sample` reads the server's. */
export function readProc(pid: number): ProcSample {
  const atMs = performance.now();
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN);
  return {
    atMs,
    cpuSeconds: cpuTicks(`/proc/${pid}/stat`) / clockTicks,
    mainThreadCpuSeconds: cpuTicks(`/proc/${pid}/task/${pid}/stat`) / clockTicks,
    rssBytes: rssKb * 1024,
  };
}

/** utime + stime of a /proc stat file, in clock ticks. */
function cpuTicks(path: string): number {
  const stat = readFileSync(path, "utf8");
  // Fields after the command name, which is parenthesised and may contain spaces:
  // rest[0] is field 3 (state), so utime (14) and stime (15) are rest[11] and rest[12].
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(rest[11]) + Number(rest[12]);
}

function readClockTicks(): number {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** Rejects with a message naming `what` if `promise` takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
