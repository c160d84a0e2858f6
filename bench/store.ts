/**
 * `npm run bench:store`: Send throughput and latency of the SQLite store
 * (durability full and normal) against the in-memory store, side by side in
 * one run on the same machine, and the server's memory after writing long
 * histories in many rooms. Prints tables and writes bench/results/store.json.
 * `--quick` shrinks every figure for a smoke test.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { ChatService } from "../src/gen/chat/v1/chat_pb.ts";
import { createTestTransport } from "../test/support/transports.ts";
import { quickFlag } from "./quick.ts";
import { columnTable } from "./report.ts";
import { type ServerProcess, spawnBenchServer } from "./server-process.ts";
import { summarize } from "./stats.ts";

const quick = quickFlag();
const config = {
  rooms: 100,
  sends: [
    { inFlight: 1, messages: quick ? 300 : 2000 },
    { inFlight: 32, messages: quick ? 2000 : 20_000 },
  ],
  /** Long histories: messages written, spread over this many rooms, before reading RSS. */
  fill: { messages: quick ? 20_000 : 100_000, rooms: quick ? 200 : 1000, inFlight: 64 },
  text: "x".repeat(200),
};

/** Each variant's server gets a fresh data directory (which the memory store leaves alone). */
interface Variant {
  name: string;
  args: string[];
}

const variants: Variant[] = [
  { name: "memory", args: ["--store", "memory"] },
  { name: "sqlite, durability full", args: ["--durability", "full"] },
  { name: "sqlite, durability normal", args: ["--durability", "normal"] },
];

interface SendResult {
  store: string;
  inFlight: number;
  messages: number;
  sendsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Server CPU time per send (all threads). */
  cpuUsPerSend: number;
}

interface FillResult {
  store: string;
  messages: number;
  rooms: number;
  sendsPerSecond: number;
  /** After a forced full GC. */
  heapUsedMiB: number;
  rssMiB: number;
  databaseMiB: number | undefined;
}

/** Sends `messages` over `rooms` rooms with `inFlight` calls at a time; returns per-send latencies. */
async function sendMany(
  server: ServerProcess,
  messages: number,
  inFlight: number,
  rooms: number,
): Promise<{ latenciesMs: number[]; seconds: number }> {
  const { transport, close } = createTestTransport(server.baseUrl, "grpc");
  const client = createClient(ChatService, transport);
  const latenciesMs: number[] = [];
  let next = 0;
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        for (let i = next++; i < messages; i = next++) {
          const t0 = performance.now();
          await client.send({
            room: `room-${i % rooms}`,
            sender: "bench",
            text: config.text,
            clientId: `c-${i}`,
          });
          latenciesMs.push(performance.now() - t0);
        }
      }),
    );
  } finally {
    close();
  }
  return { latenciesMs, seconds: (performance.now() - started) / 1000 };
}

async function withVariant<T>(
  variant: Variant,
  fn: (server: ServerProcess, dataDir: string) => Promise<T>,
): Promise<T> {
  const dataDir = mkdtempSync(join(os.tmpdir(), "chat-bench-store-"));
  const server = await spawnBenchServer(variant.args, [], dataDir);
  try {
    return await fn(server, dataDir);
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function runSends(into: SendResult[]): Promise<void> {
  for (const { inFlight, messages } of config.sends) {
    // Interleaved per configuration, so that machine noise hits every store alike.
    for (const variant of variants) {
      log(`sends: ${variant.name}, ${inFlight} in flight`);
      into.push(
        await withVariant(variant, async (server) => {
          await sendMany(server, 200, inFlight, config.rooms); // warm-up
          const before = server.sample();
          const { latenciesMs, seconds } = await sendMany(server, messages, inFlight, config.rooms);
          const after = server.sample();
          const s = summarize(latenciesMs);
          return {
            store: variant.name,
            inFlight,
            messages,
            sendsPerSecond: messages / seconds,
            p50Ms: s.p50,
            p99Ms: s.p99,
            cpuUsPerSend: ((after.cpuSeconds - before.cpuSeconds) * 1e6) / messages,
          };
        }),
      );
    }
  }
}

async function runFills(into: FillResult[]): Promise<void> {
  const { messages, rooms, inFlight } = config.fill;
  for (const variant of variants.slice(0, 2)) {
    log(`long histories: ${variant.name}, ${messages} messages in ${rooms} rooms`);
    into.push(
      await withVariant(variant, async (server, dataDir) => {
        const { seconds } = await sendMany(server, messages, inFlight, rooms);
        const report = await server.probe("gc");
        let databaseMiB: number | undefined;
        try {
          const bytes = ["chat.db", "chat.db-wal"]
            .map((f) => statSync(join(dataDir, f), { throwIfNoEntry: false })?.size ?? 0)
            .reduce((a, b) => a + b, 0);
          databaseMiB = variant.name === "memory" ? undefined : bytes / 2 ** 20;
        } catch {
          databaseMiB = undefined;
        }
        return {
          store: variant.name,
          messages,
          rooms,
          sendsPerSecond: messages / seconds,
          heapUsedMiB: report.memory.heapUsed / 2 ** 20,
          rssMiB: server.sample().rssBytes / 2 ** 20,
          databaseMiB,
        };
      }),
    );
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const sends: SendResult[] = [];
  const fills: FillResult[] = [];
  await runSends(sends);
  await runFills(fills);
  const cpus = os.cpus();
  const machine = {
    cpuModel: cpus[0]?.model ?? "unknown",
    cpuCount: cpus.length,
    node: process.version,
    date: new Date().toISOString(),
  };
  const results = { machine, config: { ...config, quick }, sends, fills };
  const url = new URL("./results/store.json", import.meta.url);
  mkdirSync(new URL(".", url), { recursive: true });
  writeFileSync(url, `${JSON.stringify(results, null, 2)}\n`);

  const memory = (inFlight: number) =>
    sends.find((r) => r.store === "memory" && r.inFlight === inFlight)?.sendsPerSecond ??
    Number.NaN;
  console.log(
    `\n${machine.cpuModel} ×${machine.cpuCount}, Node ${machine.node}, ${machine.date}\n`,
  );
  console.log(
    columnTable(sends, [
      ["store", (r) => r.store],
      ["in flight", (r) => String(r.inFlight)],
      ["sends/s", (r) => r.sendsPerSecond.toFixed(0)],
      ["× memory", (r) => (r.sendsPerSecond / memory(r.inFlight)).toFixed(2)],
      ["p50 ms", (r) => r.p50Ms.toFixed(2)],
      ["p99 ms", (r) => r.p99Ms.toFixed(2)],
      ["server CPU µs/send", (r) => r.cpuUsPerSend.toFixed(0)],
    ]),
  );
  console.log("");
  console.log(
    columnTable(fills, [
      ["store", (r) => r.store],
      ["messages", (r) => String(r.messages)],
      ["rooms", (r) => String(r.rooms)],
      ["sends/s", (r) => r.sendsPerSecond.toFixed(0)],
      ["heap after GC MiB", (r) => r.heapUsedMiB.toFixed(1)],
      ["RSS MiB", (r) => r.rssMiB.toFixed(1)],
      ["database MiB", (r) => (r.databaseMiB === undefined ? "-" : r.databaseMiB.toFixed(1))],
    ]),
  );
  console.log(`\nwritten: ${url.pathname} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

main().catch((e: unknown) => {
  console.error("bench FAILED:", e);
  process.exitCode = 1;
});
