/**
 * The chat server as a separate child process, measured from outside through /proc:
 * the child is `node` itself (not an npx/tsx wrapper), so its pid's CPU time and RSS
 * are the server's alone.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import * as net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { ProbeCommand, ProbeReport } from "./gc-probe.ts";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
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

const running = new Set<ChildProcess>();
// Last resort: never leave a server behind, even if the bench throws or is interrupted.
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/**
 * Starts `src/main.ts` on a free loopback port and resolves once it accepts connections.
 * `appArgs` go to the server, `nodeArgs` to node (e.g. `--cpu-prof` for a profile).
 */
export async function startServer(
  appArgs: readonly string[] = [],
  nodeArgs: readonly string[] = [],
): Promise<ServerProcess> {
  const port = await freePort();
  const args = [
    ...nodeArgs,
    "--expose-gc",
    "--import",
    "tsx",
    "--import",
    "./bench/gc-probe.ts",
    "src/main.ts",
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--log-level",
    "warn",
    "--shutdown-timeout-ms",
    "500",
    // Every benchmark client connects from 127.0.0.1 (HTTP/1.1 streams: one connection each).
    "--max-connections-per-ip",
    "0",
    ...appArgs,
  ];
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  running.add(child);
  const { pid } = child;
  if (pid === undefined) throw new Error("could not spawn the server");
  const logLines: string[] = [];
  const probeWaiters: ((report: ProbeReport) => void)[] = [];
  onLines(child.stdout, (line) => logLines.push(line));
  onLines(child.stderr, (line) => logLines.push(line));
  child.on("message", (report: ProbeReport) => probeWaiters.shift()?.(report));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  exited.then(() => running.delete(child));

  let stopping: Promise<void> | undefined;
  const server: ServerProcess = {
    pid,
    baseUrl: `http://127.0.0.1:${port}`,
    logLines,
    sample: () => readProc(pid),
    openFds: () => readdirSync(`/proc/${pid}/fd`).length,
    probe(command) {
      const report = new Promise<ProbeReport>((resolve) => probeWaiters.push(resolve));
      child.send(command);
      return withTimeout(report, 5000, `the server's answer to "${command}"`);
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(killer);
      })();
      return stopping;
    },
  };
  try {
    await waitForPort(port, exited, logLines);
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
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

function onLines(stream: NodeJS.ReadableStream | null, fn: (line: string) => void): void {
  let buffered = "";
  stream?.setEncoding("utf8");
  stream?.on("data", (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) if (line !== "") fn(line);
  });
}

/** A port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Resolves once 127.0.0.1:`port` accepts connections; rejects if `exited` settles first or after 20 s. */
export async function waitForPort(
  port: number,
  exited: Promise<void>,
  log: readonly string[],
): Promise<void> {
  let dead = false;
  exited.then(() => {
    dead = true;
  });
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (dead) throw new Error(`server exited during start-up:\n${log.join("\n")}`);
    const socket = net.connect(port, "127.0.0.1");
    const up = await new Promise<boolean>((resolve) => {
      socket.once("connect", () => resolve(true));
      socket.once("error", () => resolve(false));
    });
    socket.destroy();
    if (up) return;
    await sleep(50);
  }
  throw new Error("server did not listen within 20 s");
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
