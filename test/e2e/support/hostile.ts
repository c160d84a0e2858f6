/**
 * Helpers of the hostile-input suites: raw sockets from a chosen loopback address, a
 * well-behaved client on an address of its own, connection and memory baselines, and a
 * seeded random source whose seed is printed when a test fails.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import type * as http2 from "node:http2";
import * as net from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { ChatService } from "../../../src/gen/chat/v1/chat_pb.ts";
import type { TestServer } from "../../support/server.ts";

/**
 * Loopback is one address per machine, but Linux answers on all of 127.0.0.0/8: attackers
 * connect from 127.0.0.1 and the well-behaved client from here, so per-IP limits can tell
 * them apart.
 */
export const bystanderAddress = "127.0.0.2";

/** The HTTP/2 client preface. */
export const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** One HTTP/2 frame: 9-byte header, then the payload. */
export function frame(type: number, flags: number, streamId: number, payload: Uint8Array): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An empty SETTINGS frame, and its acknowledgement. */
export const settingsFrame = frame(4, 0, 0, new Uint8Array(0));
export const settingsAck = frame(4, 1, 0, new Uint8Array(0));

/** Opens a TCP connection; resolves once connected, with errors swallowed (the server may cut it). */
export async function rawConnect(port: number, localAddress = "127.0.0.1"): Promise<net.Socket> {
  const socket = net.connect({ port, host: "127.0.0.1", localAddress });
  socket.on("error", () => {});
  await once(socket, "connect");
  return socket;
}

/** Resolves with how long `socket` took to be closed (from now), or rejects after `ms`. */
export function closedWithin(socket: net.Socket, ms: number): Promise<number> {
  const started = performance.now();
  if (socket.destroyed) return Promise.resolve(0);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection still open after ${ms} ms`));
    }, ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    });
    // Reading is what lets a FIN from the server close the socket.
    socket.resume();
  });
}

/** The server's open TCP connections, sniffing ones included. */
export function connections(server: TestServer): Promise<number> {
  return new Promise((resolve, reject) =>
    server.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}

/** Waits until the server holds at most `n` connections; rejects after `ms` with the count. */
export async function connectionsDropTo(
  server: TestServer,
  n: number,
  ms: number,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    const held = await connections(server);
    if (held <= n) return performance.now() - started;
    if (performance.now() - started > ms) {
      throw new Error(`still ${held} connections (want <= ${n}) after ${ms} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A chat.v1 client over gRPC (h2c) from {@link bystanderAddress}; `close` drops its connection. */
export function bystander(url: string) {
  // http2.connect passes its options on to net.connect; its types do not name localAddress.
  const sessionOptions = { localAddress: bystanderAddress } as http2.ClientSessionOptions;
  const sessions = new Http2SessionManager(url, undefined, sessionOptions);
  const client = createClient(
    ChatService,
    createGrpcTransport({ baseUrl: url, sessionManager: sessions }),
  );
  return { client, close: () => sessions.abort() };
}

/**
 * One Send on a new connection of its own (so the server's accept path is exercised each
 * time, as for a user arriving during an attack); resolves with its latency.
 */
export async function sendAsNewcomer(url: string, room: string, ms: number): Promise<number> {
  const { client, close } = bystander(url);
  const started = performance.now();
  try {
    await client.send(
      { room, sender: "newcomer", text: "hello" },
      { signal: AbortSignal.timeout(ms) },
    );
    return performance.now() - started;
  } finally {
    close();
  }
}

let gc: (() => void) | undefined;

/** Heap in use after a full garbage collection (V8's flag is set at run time, as `--expose-gc` would). */
export async function settledHeapBytes(): Promise<number> {
  if (gc === undefined) {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  }
  // Let closed sockets and finished streams drop their last references first.
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/** Asserts that the heap came back within `toleranceBytes` of `baseline`, retrying GC for a while. */
export async function assertHeapNear(baseline: number, toleranceBytes: number): Promise<number> {
  let heap = await settledHeapBytes();
  for (let i = 0; i < 20 && heap > baseline + toleranceBytes; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    heap = await settledHeapBytes();
  }
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  assert.ok(
    heap <= baseline + toleranceBytes,
    `heap ${mb(heap)} after, ${mb(baseline)} before (tolerance ${mb(toleranceBytes)})`,
  );
  return heap;
}

/** A small fast PRNG (mulberry32): the same seed gives the same cases. */
export interface Random {
  readonly seed: number;
  /** In [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  bytes(n: number): Buffer;
  chance(p: number): boolean;
}

export function createRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    seed,
    next,
    int,
    pick: (items) => items[int(items.length)] as (typeof items)[number],
    bytes: (n) => {
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i++) out[i] = int(256);
      return out;
    },
    chance: (p) => next() < p,
  };
}

/** The seed of a fuzz run: `FUZZ_SEED` when set (to replay a failure), else a fresh one. */
export function fuzzSeed(): number {
  const fromEnv = Number(process.env.FUZZ_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : (Date.now() % 2 ** 31) + 1;
}

/** Runs `body`, and on failure names the seed that replays it. */
export async function withSeed<T>(seed: number, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(`${message}\n(replay with FUZZ_SEED=${seed})`, { cause: e });
  }
}

/** Runs `tasks` with at most `concurrency` at a time. */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < items.length) {
      const index = nextIndex++;
      await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
