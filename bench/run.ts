/**
 * `npm run bench`: idle-stream cost and fan-out throughput/latency of the chat server,
 * run as a separate process on loopback and measured through /proc. Prints tables and
 * writes bench/results/latest.json. `--quick` shrinks every figure for a smoke test.
 * Exits non-zero if a run fails, e.g. a stream misses, duplicates or reorders a message.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import { parseArgs } from "node:util";
import type { TransportKind } from "../test/support/transports.ts";
import { type FanOutResult, runFanOut } from "./fan-out.ts";
import { type IdleResult, runIdleStreams } from "./idle-streams.ts";
import { fanOutTable, idleTable } from "./report.ts";
import { type ServerProcess, spawnBenchServer } from "./server-process.ts";

/**
 * `--quick` shrinks every figure (a smoke test); `--idle-only` skips fan-out;
 * `--idle-streams N` opens N idle streams per protocol instead of 1,000.
 */
const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    "idle-only": { type: "boolean", default: false },
    "idle-streams": { type: "string" },
  },
});
const quick = args.quick === true;
const config = {
  idleStreams: args["idle-streams"] ? Number(args["idle-streams"]) : quick ? 200 : 1000,
  idleWindowMs: quick ? 2000 : 10_000,
  /**
   * gRPC idle streams share this many HTTP/2 connections: one, or one per
   * 1,000 streams (the server's per-connection stream limit).
   */
  idleH2Connections: 1,
  subscribers: quick ? 20 : 100,
  /**
   * One Send at a time measures latency; 32 at a time saturates the server. Messages stay
   * below the server's default per-subscriber buffer (1024), so a run cannot be cut off.
   */
  fanOut: [
    { inFlight: 1, messages: quick ? 100 : 500 },
    { inFlight: 32, messages: quick ? 200 : 1000 },
  ],
};

/**
 * gRPC with a connection per subscriber (like HTTP/1.1, and the reference for ratios),
 * then all subscribers multiplexed on one HTTP/2 connection, then the HTTP/1.1 protocols.
 */
const fanOutVariants: { kind: TransportKind; shareOneH2Connection?: boolean }[] = [
  { kind: "grpc" },
  { kind: "grpc", shareOneH2Connection: true },
  { kind: "connect-h1" },
  { kind: "grpcweb-h1" },
];

const notes: string[] = [];
const servers = new Set<ServerProcess>();
const resultsUrl = new URL("./results/latest.json", import.meta.url);

/** A fresh server for `fn`, stopped afterwards whatever happens. */
async function withServer<T>(fn: (server: ServerProcess) => Promise<T>): Promise<T> {
  // The in-memory store: these figures are about streaming, not storage
  // (bench/store.ts compares the stores).
  const server = await spawnBenchServer(["--store", "memory"]);
  servers.add(server);
  try {
    return await fn(server);
  } finally {
    await server.stop();
    servers.delete(server);
    if (server.logLines.length > 0) {
      notes.push(`server ${server.pid} logged: ${server.logLines.join(" / ")}`);
    }
  }
}

/** One fresh server per protocol, so each baseline is a server that never saw the other. */
async function runIdle(into: IdleResult[]): Promise<void> {
  for (const kind of ["grpc", "connect-h1"] as const) {
    log(`idle streams: ${kind}, ${config.idleStreams} streams`);
    const o = {
      kind,
      streams: config.idleStreams,
      h2Connections: config.idleH2Connections,
      windowMs: config.idleWindowMs,
    };
    into.push(await withServer((server) => runIdleStreams(server, o)));
  }
}

async function runFanOuts(into: FanOutResult[]): Promise<void> {
  await withServer(async (server) => {
    for (const { inFlight, messages } of config.fanOut) {
      for (const { kind, shareOneH2Connection } of fanOutVariants) {
        const h2Connections = shareOneH2Connection ? 1 : config.subscribers;
        log(
          `fan-out: ${kind}${shareOneH2Connection ? " (one shared connection)" : ""}, ${inFlight} in flight`,
        );
        const base = { kind, h2Connections, inFlight, timeoutMs: 60_000 };
        // Warm-up: JIT and lazy paths of this protocol, not measured.
        await runFanOut(server, { ...base, subscribers: 10, messages: 50 });
        into.push(await runFanOut(server, { ...base, subscribers: config.subscribers, messages }));
      }
    }
  });
}

/** Soft RLIMIT_NOFILE of this process (the server inherits it). */
function openFileLimit(): number {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
  return soft === undefined || soft === "unlimited" ? Number.POSITIVE_INFINITY : Number(soft);
}

async function main(): Promise<void> {
  const started = Date.now();
  const fdLimit = openFileLimit();
  if (fdLimit < config.idleStreams + 200) {
    config.idleStreams = Math.max(100, Math.floor((fdLimit - 200) / 100) * 100);
    notes.push(`ulimit -n is ${fdLimit}: idle tests reduced to ${config.idleStreams} streams`);
  }
  config.idleH2Connections = Math.max(1, Math.ceil(config.idleStreams / 1000));
  const idle: IdleResult[] = [];
  const fanOut: FanOutResult[] = [];
  let error: unknown;
  try {
    await runIdle(idle);
    if (!args["idle-only"]) await runFanOuts(fanOut);
  } catch (e) {
    error = e;
  }
  const cpus = os.cpus();
  const results = {
    machine: {
      cpuModel: cpus[0]?.model ?? "unknown",
      cpuCount: cpus.length,
      totalMemoryBytes: os.totalmem(),
      node: process.version,
      platform: `${os.type()} ${os.release()} ${os.arch()}`,
      date: new Date().toISOString(),
    },
    config: { ...config, openFileLimit: fdLimit, quick },
    durationSeconds: (Date.now() - started) / 1000,
    idle,
    fanOut,
    notes,
    error: error === undefined ? undefined : String(error),
  };
  mkdirSync(new URL(".", resultsUrl), { recursive: true });
  writeFileSync(resultsUrl, `${JSON.stringify(results, null, 2)}\n`);
  const m = results.machine;
  const gib = (m.totalMemoryBytes / 2 ** 30).toFixed(1);
  console.log(`\n${m.cpuModel} ×${m.cpuCount}, ${gib} GiB, Node ${m.node}, ${m.date}`);
  console.log(`\nIdle streams (${config.idleWindowMs / 1000} s windows)\n${idleTable(idle)}`);
  console.log(`\nFan-out (sender: gRPC h2c; ×gRPC: vs gRPC with one connection per subscriber)`);
  console.log(fanOutTable(fanOut));
  for (const note of notes) console.log(`note: ${note}`);
  console.log(`\nwritten: ${resultsUrl.pathname} (${results.durationSeconds.toFixed(0)} s)`);
  if (error !== undefined) throw error;
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

const interrupt = () => {
  Promise.all([...servers].map((s) => s.stop())).finally(() => process.exit(130));
};
process.once("SIGINT", interrupt);
process.once("SIGTERM", interrupt);

main().catch((e: unknown) => {
  console.error("bench FAILED:", e);
  process.exitCode = 1;
});
