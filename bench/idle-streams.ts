/**
 * Idle streams: what open but quiet Subscribe streams cost the server. A fresh server
 * is warmed up, measured with no stream, then with `streams` streams that have all
 * received their `ready` event and then see no traffic.
 */

import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "@connectrpc/connect";
import { ChatService } from "../src/gen/chat/v1/chat_pb.ts";
import {
  createTestTransport,
  type TestTransport,
  type TransportKind,
} from "../test/support/transports.ts";
import { startMonitor, type WindowStats } from "./monitor.ts";
import type { ServerProcess } from "./server-process.ts";
import { withTimeout } from "./server-process.ts";
import { type BenchSubscription, subscribeLive } from "./subscription.ts";

export interface IdleOptions {
  kind: TransportKind;
  streams: number;
  /** HTTP/2 connections the streams are spread over (HTTP/1.1: one per stream anyway). */
  h2Connections: number;
  windowMs: number;
}

export interface IdlePhase {
  window: WindowStats;
  /** The server's own GC pauses during the window: CPU that is not polling. */
  gcCount: number;
  gcPauseMs: number;
  /** V8 heap in use right after a forced full GC, taken after the window. */
  heapUsedAfterGcBytes: number;
  serverFds: number;
}

export interface IdleResult {
  kind: TransportKind;
  streams: number;
  connections: number;
  /** Time to open all streams and see every `ready`. */
  openSeconds: number;
  baseline: IdlePhase;
  loaded: IdlePhase;
  /** (mean RSS with streams − mean RSS without) / streams. */
  rssPerStreamBytes: number;
  /** Same, for the V8 heap after a forced GC: the steadier figure. */
  heapPerStreamBytes: number;
}

const openBatch = 100;

export async function runIdleStreams(server: ServerProcess, o: IdleOptions): Promise<IdleResult> {
  await warmUp(server, o.kind);
  const baseline = await measurePhase(server, o.windowMs);

  // HTTP/1.1: one agent without a socket limit opens one connection per stream.
  const h2 = o.kind === "grpc";
  const connections = h2 ? o.h2Connections : o.streams;
  const transports: TestTransport[] = Array.from({ length: h2 ? o.h2Connections : 1 }, () =>
    createTestTransport(server.baseUrl, o.kind),
  );
  const clients = transports.map((t) => createClient(ChatService, t.transport));
  const subs: BenchSubscription[] = [];
  const openStart = performance.now();
  try {
    for (let i = 0; i < o.streams; i += openBatch) {
      const batch: BenchSubscription[] = [];
      for (let j = i; j < Math.min(o.streams, i + openBatch); j++) {
        batch.push(subscribeLive(clients[j % clients.length] as (typeof clients)[0], "idle"));
      }
      subs.push(...batch);
      await withTimeout(Promise.all(batch.map((s) => s.ready)), 30_000, "streams to be ready");
    }
    const openSeconds = (performance.now() - openStart) / 1000;
    await sleep(1000);
    const loaded = await measurePhase(server, o.windowMs);
    const dropped = subs.filter((s) => s.isEnded).length;
    if (dropped > 0) throw new Error(`${o.kind}: ${dropped} idle streams ended during the window`);
    return {
      kind: o.kind,
      streams: o.streams,
      connections,
      openSeconds,
      baseline,
      loaded,
      rssPerStreamBytes:
        (loaded.window.serverRssMeanBytes - baseline.window.serverRssMeanBytes) / o.streams,
      heapPerStreamBytes: (loaded.heapUsedAfterGcBytes - baseline.heapUsedAfterGcBytes) / o.streams,
    };
  } finally {
    for (const s of subs) s.cancel();
    await withTimeout(Promise.all(subs.map((s) => s.ended)), 10_000, "streams to end");
    for (const t of transports) t.close();
  }
}

/**
 * The window comes first, on the server as it is; the forced GC (for the heap figure)
 * comes after it, because V8 keeps sweeping and returning memory for a second or two
 * after a full GC, which would show up as CPU in the window.
 */
async function measurePhase(server: ServerProcess, windowMs: number): Promise<IdlePhase> {
  const serverFds = server.openFds();
  const before = await server.probe("stats");
  const monitor = startMonitor(server, 500);
  await sleep(windowMs);
  const window = monitor.stop();
  const after = await server.probe("gc");
  return {
    window,
    gcCount: after.gcCount - before.gcCount,
    gcPauseMs: after.gcPauseMs - before.gcPauseMs,
    heapUsedAfterGcBytes: after.memory.heapUsed,
    serverFds,
  };
}

/** Runs each code path once (subscribe, send, deliver, cancel) so the baseline includes it. */
async function warmUp(server: ServerProcess, kind: TransportKind): Promise<void> {
  const t = createTestTransport(server.baseUrl, kind);
  const client = createClient(ChatService, t.transport);
  let got = 0;
  const subs = Array.from({ length: 20 }, () => subscribeLive(client, "warm-up", () => got++));
  try {
    await withTimeout(Promise.all(subs.map((s) => s.ready)), 10_000, "warm-up streams");
    for (let i = 0; i < 10; i++)
      await client.send({ room: "warm-up", sender: "bench", text: "hi" });
    const deadline = Date.now() + 5000;
    while (got < subs.length * 10 && Date.now() < deadline) await sleep(10);
  } finally {
    for (const s of subs) s.cancel();
    await Promise.all(subs.map((s) => s.ended));
    t.close();
  }
  await sleep(1000);
}
