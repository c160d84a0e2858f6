/**
 * `npm run bench:scale-out`: what `--store redis` costs and buys (issue 10).
 *
 * 1. Send latency and throughput: one instance on SQLite (`--durability
 *    full`, the default) against one instance on Redis (AOF `appendfsync
 *    always`, and `everysec`). One Send at a time gives the latency a user
 *    feels; 32 in flight the throughput.
 * 2. Fan-out through Redis: the same subscribers and sends against one
 *    instance and against three instances on one Redis, with the
 *    subscribers spread over the instances by nginx (test/support/nginx.ts;
 *    `grpc_pass` balances each stream) and, for comparison, by the clients
 *    themselves (round robin, no balancer). Deliveries/s, p99, and CPU per
 *    delivery summed over every process that does the work (instances,
 *    Redis, nginx).
 *
 * Everything runs on this machine, in one run, so the figures compare; on 2
 * cores, three instances and Redis share the same two cores, so this
 * measures the cost of the design, not the gain of more machines (see
 * docs/scale-out.md). `--quick` shrinks every figure.
 */
import { createClient } from "@connectrpc/connect";
import { ChatService } from "../src/gen/chat/v1/chat_pb.ts";
import { type Nginx, startNginx } from "../test/support/nginx.ts";
import { type RedisProcess, startRedis } from "../test/support/redis.ts";
import { createTestTransport } from "../test/support/transports.ts";
import { type FanOutResult, runFanOut } from "./fan-out.ts";
import { quickFlag } from "./quick.ts";
import {
  type ProcSample,
  readProc,
  type ServerProcess,
  spawnBenchServer,
} from "./server-process.ts";
import { summarize } from "./stats.ts";

const quick = quickFlag();
const config = {
  inFlight: 32,
  fanOutInFlight: 8,
  // What --quick shrinks:
  sequentialSends: quick ? 200 : 2000,
  parallelSends: quick ? 500 : 5000,
  subscribers: quick ? 60 : 300,
  h2Connections: quick ? 6 : 30,
  messages: quick ? 60 : 300,
};

const log = (line: string) => process.stderr.write(`${line}\n`);

interface SendFigures {
  store: string;
  p50Ms: number;
  p99Ms: number;
  sequentialPerSecond: number;
  parallelPerSecond: number;
}

/** Sends one at a time (latency), then `inFlight` at a time (throughput). */
async function measureSends(store: string, server: ServerProcess): Promise<SendFigures> {
  const transport = createTestTransport(server.baseUrl, "grpc");
  const client = createClient(ChatService, transport.transport);
  const room = `sends-${store.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  try {
    for (let i = 0; i < 50; i++) await client.send({ room, sender: "warm", text: "up" });
    const latencies = new Float64Array(config.sequentialSends);
    const started = performance.now();
    for (let i = 0; i < config.sequentialSends; i++) {
      const t = performance.now();
      await client.send({ room, sender: "bench", text: `s${i}` });
      latencies[i] = performance.now() - t;
    }
    const sequentialSeconds = (performance.now() - started) / 1000;
    let next = 0;
    const parallelStart = performance.now();
    await Promise.all(
      Array.from({ length: config.inFlight }, async () => {
        while (next < config.parallelSends) {
          next++;
          await client.send({ room, sender: "bench", text: "p" });
        }
      }),
    );
    const parallelSeconds = (performance.now() - parallelStart) / 1000;
    const summary = summarize(latencies);
    return {
      store,
      p50Ms: summary.p50,
      p99Ms: summary.p99,
      sequentialPerSecond: config.sequentialSends / sequentialSeconds,
      parallelPerSecond: config.parallelSends / parallelSeconds,
    };
  } finally {
    transport.close();
  }
}

/**
 * Several processes measured as one server: CPU and RSS summed, subscribers
 * spread over `urls`.
 */
function asOneServer(
  servers: readonly ServerProcess[],
  redis: RedisProcess,
  nginx: Nginx | undefined,
): ServerProcess {
  const first = servers[0] as ServerProcess;
  const others = [redis.pid, nginx?.pid].filter((pid) => pid !== undefined);
  return {
    ...first,
    baseUrls: nginx ? [nginx.grpcUrl] : servers.map((s) => s.baseUrl),
    sample(): ProcSample {
      const samples = [...servers.map((s) => s.sample()), ...others.map((pid) => readProc(pid))];
      return {
        atMs: performance.now(),
        cpuSeconds: samples.reduce((sum, s) => sum + s.cpuSeconds, 0),
        mainThreadCpuSeconds: samples.reduce((sum, s) => sum + s.mainThreadCpuSeconds, 0),
        rssBytes: samples.reduce((sum, s) => sum + s.rssBytes, 0),
      };
    },
  };
}

async function fanOut(
  instances: number,
  redis: RedisProcess,
  balancer: boolean,
): Promise<FanOutResult> {
  const servers = await Promise.all(
    Array.from({ length: instances }, () =>
      spawnBenchServer(["--store", "redis", "--redis-url", redis.url, "--heartbeat-interval", "0"]),
    ),
  );
  const nginx = balancer
    ? await startNginx({ upstreams: servers.map((s) => new URL(s.baseUrl).host) })
    : undefined;
  try {
    return await runFanOut(asOneServer(servers, redis, nginx), {
      kind: "grpc",
      subscribers: config.subscribers,
      messages: config.messages,
      inFlight: config.fanOutInFlight,
      h2Connections: config.h2Connections,
      timeoutMs: 120_000,
    });
  } finally {
    await nginx?.stop();
    await Promise.all(servers.map((s) => s.stop()));
  }
}

async function main(): Promise<void> {
  const sends: SendFigures[] = [];
  {
    log("sends: SQLite (durability full)");
    const server = await spawnBenchServer(
      ["--store", "sqlite"],
      [],
      `/tmp/bench-scale-${process.pid}`,
    );
    try {
      sends.push(await measureSends("SQLite, durability full", server));
    } finally {
      await server.stop();
    }
  }
  for (const appendfsync of ["always", "everysec"] as const) {
    log(`sends: Redis (appendfsync ${appendfsync})`);
    const redis = await startRedis({ appendfsync });
    const server = await spawnBenchServer(["--store", "redis", "--redis-url", redis.url]);
    try {
      sends.push(await measureSends(`Redis, appendfsync ${appendfsync}`, server));
    } finally {
      await server.stop();
      await redis.stop();
    }
  }

  const fanOuts: { setup: string; result: FanOutResult }[] = [];
  const redis = await startRedis({ appendfsync: "everysec" });
  const setups = [
    { setup: "1 instance", instances: 1, balancer: false },
    { setup: "3 instances, clients spread", instances: 3, balancer: false },
    { setup: "1 instance behind nginx", instances: 1, balancer: true },
    { setup: "3 instances behind nginx", instances: 3, balancer: true },
  ];
  try {
    for (const { setup, instances, balancer } of setups) {
      log(`fan-out: ${setup}`);
      fanOuts.push({ setup, result: await fanOut(instances, redis, balancer) });
    }
  } finally {
    await redis.stop();
  }

  const base = sends[0] as SendFigures;
  const lines = [
    "| store | Send p50 | Send p99 | 1 in flight | 32 in flight | p50 vs SQLite |",
    "|---|---:|---:|---:|---:|---:|",
    ...sends.map(
      (s) =>
        `| ${s.store} | ${s.p50Ms.toFixed(2)} ms | ${s.p99Ms.toFixed(2)} ms | ${s.sequentialPerSecond.toFixed(0)}/s | ${s.parallelPerSecond.toFixed(0)}/s | ${(s.p50Ms / base.p50Ms).toFixed(2)}× |`,
    ),
    "",
    "| on one Redis | deliveries/s | p50 | p99 | CPU (all processes) | CPU µs per delivery |",
    "|---|---:|---:|---:|---:|---:|",
    ...fanOuts.map(({ setup, result: r }) => {
      const cpuSeconds = (r.window.serverCpuPercent / 100) * r.window.seconds;
      return `| ${setup} | ${r.deliveriesPerSecond.toFixed(0)} | ${r.latencyMs.p50.toFixed(1)} ms | ${r.latencyMs.p99.toFixed(1)} ms | ${r.window.serverCpuPercent.toFixed(0)}% | ${((cpuSeconds / r.deliveries) * 1e6).toFixed(1)} |`;
    }),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  process.stdout.write(
    `\n${config.subscribers} gRPC subscribers over ${config.h2Connections} HTTP/2 connections, ${config.messages} messages, ${config.fanOutInFlight} Sends in flight; Redis appendfsync everysec.\n`,
  );
}

await main();
