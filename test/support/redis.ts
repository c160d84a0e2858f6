/**
 * Throw-away Redis servers for tests: each on free ports, with its data in a
 * temporary directory, so no test depends on (or disturbs) the machine's own
 * Redis on 6379. Needs `redis-server` and `redis-cli` on the PATH (Debian
 * packages `redis-server` and `redis-tools`, installed by .ci/run).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";

export interface RedisOptions {
  /** Default "always": every acknowledged write is on disk, as the issue asks. */
  appendfsync?: "always" | "everysec";
  /**
   * Default true: the append-only file is on. False keeps nothing on disk
   * (like the machine's own Redis), so a restart comes back empty. RDB
   * snapshots stay off either way (`--save ""`): the tests never need them
   * and they fork in the background.
   */
  persistence?: boolean;
  /** A password clients must give (`redis://:password@…`). Default none. */
  requirepass?: string;
}

export interface RedisProcess {
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /** Working directory: the AOF, the log (`redis.log`). */
  dir: string;
  /** The running server's pid (benchmarks read its CPU time); undefined while stopped. */
  readonly pid: number | undefined;
  /** Shuts down cleanly (SIGTERM, so the AOF is flushed) and removes `dir`. */
  stop(): Promise<void>;
  /** Sends `signal` (default SIGKILL) and waits for the exit; `dir` stays for `restart`. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts the server again on the same port (stopping it first if it still
   * runs); `empty: true` deletes its data files first, as if it had run
   * without persistence.
   */
  restart(options?: { empty?: boolean }): Promise<void>;
}

export interface RedisClusterProcess {
  /** The seed URLs joined by commas (what `connectRedis` takes). */
  url: string;
  urls: string[];
  /** The masters, to kill or restart one. */
  nodes: RedisProcess[];
  stop(): Promise<void>;
}

const host = "127.0.0.1";
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

/** A test run that crashes or exits early must not leave servers or data behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Encodes a command in RESP, the way every Redis client sends one. */
function encode(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
}

/**
 * Sends one command on a fresh connection and returns the reply's first
 * line, or a bulk string's content: enough for PING, INFO and CLUSTER INFO
 * without depending on the client library under test.
 */
export function rawCommand(port: number, args: string[], timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    let data = Buffer.alloc(0);
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`no reply from port ${port}`)));
    socket.on("error", fail);
    socket.on("connect", () => socket.write(encode(args)));
    socket.on("data", (chunk) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf("\r\n");
      if (end < 0) return;
      const line = data.subarray(0, end).toString();
      if (line.startsWith("$")) {
        const length = Number(line.slice(1));
        if (length < 0) return done("");
        if (data.length < end + 2 + length) return;
        return done(data.subarray(end + 2, end + 2 + length).toString());
      }
      done(line);
    });
    function done(reply: string): void {
      socket.destroy();
      resolve(reply);
    }
  });
}

/** Resolves when the server answers PING (not -LOADING); rejects if it exits first. */
async function waitForPing(port: number, child: ChildProcess, dir: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let exited = false;
  let failed: Error | undefined;
  child.once("exit", () => {
    exited = true;
  });
  // Spawning itself failed: not installed, or (Deno) no --allow-run.
  child.once("error", (e) => {
    failed = e;
  });
  for (;;) {
    if (failed !== undefined) throw new Error(`cannot start redis-server: ${failed.message}`);
    if (exited || child.exitCode !== null) {
      throw new Error(
        `redis-server on port ${port} exited at start; see ${join(dir, "redis.log")}`,
      );
    }
    const reply = await rawCommand(port, ["PING"], 500).catch((e: Error) => e.message);
    // NOAUTH: up, and asking for the password it was started with.
    if (reply === "+PONG" || reply.startsWith("-NOAUTH")) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port}: ${reply}`);
    // Not listening yet, or still loading its data: ask again shortly.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function serverArgs(port: number, options: RedisOptions, extra: string[]): string[] {
  const aof = options.persistence ?? true;
  return [
    "--port",
    String(port),
    "--bind",
    host,
    "--dir",
    ".",
    "--logfile",
    "redis.log",
    "--daemonize",
    "no",
    "--save",
    "",
    "--appendonly",
    aof ? "yes" : "no",
    "--appendfsync",
    options.appendfsync ?? "always",
    ...(options.requirepass === undefined ? [] : ["--requirepass", options.requirepass]),
    ...extra,
  ];
}

async function waitForExit(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  // No pid: it never started (the spawn failed), so no exit will come.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/** One redis-server process in `dir`, restartable on its port. */
async function launch(
  port: number,
  dir: string,
  options: RedisOptions,
  extra: string[] = [],
): Promise<RedisProcess> {
  installExitHook();
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    const proc = spawn("redis-server", serverArgs(port, options, extra), {
      cwd: dir,
      stdio: "ignore",
    });
    child = proc;
    live.add(proc);
    proc.once("exit", () => live.delete(proc));
    try {
      await waitForPing(port, proc, dir);
    } catch (e) {
      await halt("SIGKILL");
      throw e;
    }
  }

  async function halt(signal: NodeJS.Signals): Promise<void> {
    if (child !== undefined) await waitForExit(child, signal);
    child = undefined;
  }

  await start();
  return {
    url: `redis://${host}:${port}`,
    port,
    dir,
    get pid() {
      return child?.pid;
    },
    async stop() {
      await halt("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
    kill: (signal = "SIGKILL") => halt(signal),
    async restart(restartOptions = {}) {
      await halt("SIGTERM");
      if (restartOptions.empty) {
        rmSync(join(dir, "appendonlydir"), { recursive: true, force: true });
        rmSync(join(dir, "dump.rdb"), { force: true });
      }
      await start();
    },
  };
}

function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `chat-${name}-`));
  dirs.add(dir);
  return dir;
}

/** A single Redis server on a free port; AOF with `appendfsync always` unless told otherwise. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisProcess> {
  const dir = tempDir("redis");
  try {
    return await launch(await freePort(), dir, options);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
    throw e;
  }
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")}: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * A Redis Cluster of three masters (no replicas) on free ports, built with
 * `redis-cli --cluster create`; resolves once every node reports
 * `cluster_state:ok`. Each node's cluster bus gets its own free port too
 * (the default, port + 10000, may be taken or out of range).
 */
export async function startRedisCluster(options: RedisOptions = {}): Promise<RedisClusterProcess> {
  const root = tempDir("redis-cluster");
  const nodes: RedisProcess[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const dir = join(root, String(i));
      mkdirSync(dir);
      const [port, busPort] = [await freePort(), await freePort()];
      const extra = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"];
      extra.push("--cluster-port", String(busPort), "--cluster-node-timeout", "5000");
      nodes.push(await launch(port, dir, options, extra));
    }
    const addresses = nodes.map((n) => `${host}:${n.port}`);
    await run("redis-cli", [
      "--cluster",
      "create",
      ...addresses,
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    const deadline = Date.now() + 20_000;
    for (const node of nodes) {
      while (!(await rawCommand(node.port, ["CLUSTER", "INFO"])).includes("cluster_state:ok")) {
        if (Date.now() > deadline) throw new Error(`cluster node ${node.port} never became ok`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  } catch (e) {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(root, { recursive: true, force: true });
    dirs.delete(root);
    throw e;
  }
  const urls = nodes.map((n) => n.url);
  return {
    url: urls.join(","),
    urls,
    nodes,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(root, { recursive: true, force: true });
      dirs.delete(root);
    },
  };
}
