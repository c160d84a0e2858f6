/**
 * Fan-out: `subscribers` live streams in one room, one sender posting `messages` with at
 * most `inFlight` Sends outstanding. Each text carries `performance.now()` at send time
 * (sender and subscribers share this process, so one clock), which gives the end-to-end
 * latency of every delivery. Every subscriber must see every message exactly once, in
 * seq order, or the run throws.
 */
import { type Client, createClient } from "@connectrpc/connect";
import { ChatService, type Message } from "../src/gen/chat/v1/chat_pb.ts";
import {
  createTestTransport,
  type TestTransport,
  type TransportKind,
} from "../test/support/transports.ts";
import { type Monitor, startMonitor, type WindowStats } from "./monitor.ts";
import { type ServerProcess, withTimeout } from "./server-process.ts";
import { type Summary, summarize } from "./stats.ts";
import { type BenchSubscription, subscribeLive } from "./subscription.ts";

export interface FanOutOptions {
  /** Protocol of the subscribers; the sender always uses gRPC over h2c, on its own connection. */
  kind: TransportKind;
  subscribers: number;
  messages: number;
  inFlight: number;
  /** HTTP/2 only: connections the subscribers are spread over (HTTP/1.1: one per stream). */
  h2Connections: number;
  timeoutMs: number;
}

export interface FanOutResult {
  kind: TransportKind;
  subscribers: number;
  messages: number;
  inFlight: number;
  /** Subscriber connections. */
  connections: number;
  /** First Send started to last delivery. */
  elapsedSeconds: number;
  deliveries: number;
  deliveriesPerSecond: number;
  /** Send to delivery, ms, over every delivery. */
  latencyMs: Summary;
  /** Most messages any subscriber was behind the sender (the server cuts it off at 1024 by default). */
  maxLagMessages: number;
  window: WindowStats;
}

type ChatClient = Client<typeof ChatService>;

/** One subscriber's view; checked as messages arrive and again at the end. */
interface Receiver {
  /** The message index of each delivery, in arrival order. */
  indices: Int32Array;
  count: number;
  nextSeq: bigint;
  problem: string | undefined;
}

/** Shared by the subscribers of one run. */
interface Run {
  o: FanOutOptions;
  latencies: Float64Array;
  sendsStarted: number;
  maxLag: number;
  finished: number;
  lastDeliveryMs: number;
  allDelivered(): void;
}

let runNumber = 0;

export async function runFanOut(server: ServerProcess, o: FanOutOptions): Promise<FanOutResult> {
  const room = `fan-out-${++runNumber}`;
  const h2 = o.kind === "grpc";
  const urls = server.baseUrls ?? [server.baseUrl];
  const transports: TestTransport[] = Array.from(
    { length: h2 ? o.h2Connections : urls.length },
    (_, i) => createTestTransport(urls[i % urls.length] as string, o.kind),
  );
  const senderTransport = createTestTransport(urls[0] as string, "grpc");
  const clients = transports.map((t) => createClient(ChatService, t.transport));
  const { run, receivers, subs, delivered } = subscribeAll(o, clients, room);
  let monitor: Monitor | undefined;
  try {
    const heads = await withTimeout(Promise.all(subs.map((x) => x.ready)), 30_000, "subscribers");
    heads.forEach((head, s) => {
      (receivers[s] as Receiver).nextSeq = head + 1n;
    });
    monitor = startMonitor(server, 250);
    const start = performance.now();
    const seqOf = await sendAll(run, createClient(ChatService, senderTransport.transport), room);
    await waitForAll(o, delivered, subs, receivers);
    const window = monitor.stop();
    verify(o.kind, receivers, heads, seqOf, o.messages);
    const elapsedSeconds = (run.lastDeliveryMs - start) / 1000;
    return {
      kind: o.kind,
      subscribers: o.subscribers,
      messages: o.messages,
      inFlight: o.inFlight,
      connections: h2 ? o.h2Connections : o.subscribers,
      elapsedSeconds,
      deliveries: run.latencies.length,
      deliveriesPerSecond: run.latencies.length / elapsedSeconds,
      latencyMs: summarize(run.latencies),
      maxLagMessages: run.maxLag,
      window,
    };
  } finally {
    monitor?.stop();
    for (const x of subs) x.cancel();
    await withTimeout(Promise.all(subs.map((x) => x.ended)), 10_000, "subscribers to end");
    for (const t of [...transports, senderTransport]) t.close();
  }
}

/** Opens the subscribers (spread over `clients`), each checking its deliveries as they come. */
function subscribeAll(o: FanOutOptions, clients: readonly ChatClient[], room: string) {
  let allDelivered: () => void = () => {};
  const delivered = new Promise<void>((resolve) => {
    allDelivered = resolve;
  });
  const run: Run = {
    o,
    latencies: new Float64Array(o.subscribers * o.messages),
    sendsStarted: 0,
    maxLag: 0,
    finished: 0,
    lastDeliveryMs: 0,
    allDelivered,
  };
  const receivers: Receiver[] = [];
  const subs: BenchSubscription[] = [];
  for (let s = 0; s < o.subscribers; s++) {
    const r: Receiver = {
      indices: new Int32Array(o.messages),
      count: 0,
      nextSeq: 0n,
      problem: undefined,
    };
    receivers.push(r);
    const client = clients[s % clients.length] as ChatClient;
    subs.push(subscribeLive(client, room, (m) => receive(run, s, r, m)));
  }
  return { run, receivers, subs, delivered };
}

function receive(run: Run, s: number, r: Receiver, m: Message): void {
  const now = performance.now();
  const [index, sentAt] = m.text.split(" ").map(Number) as [number, number];
  if (r.count >= run.o.messages || m.seq !== r.nextSeq) {
    r.problem ??= `got seq ${m.seq} as message #${r.count + 1}, expected ${r.nextSeq}`;
    return;
  }
  run.maxLag = Math.max(run.maxLag, run.sendsStarted - r.count);
  r.nextSeq++;
  r.indices[r.count] = index;
  run.latencies[s * run.o.messages + r.count] = now - sentAt;
  if (++r.count === run.o.messages) {
    run.lastDeliveryMs = now;
    if (++run.finished === run.o.subscribers) run.allDelivered();
  }
}

/** Sends message 0..n-1 with at most `inFlight` outstanding; returns each index's seq. */
async function sendAll(run: Run, sender: ChatClient, room: string): Promise<BigInt64Array> {
  const n = run.o.messages;
  const seqOf = new BigInt64Array(n);
  const worker = async () => {
    while (run.sendsStarted < n) {
      const index = run.sendsStarted++;
      const res = await sender.send({
        room,
        sender: "bench",
        text: `${index} ${performance.now()}`,
      });
      seqOf[index] = BigInt.asIntN(64, res.seq);
    }
  };
  await Promise.all(Array.from({ length: Math.min(run.o.inFlight, n) }, worker));
  return seqOf;
}

/** Resolves once every subscriber has every message; throws if a stream ends first or time runs out. */
async function waitForAll(
  o: FanOutOptions,
  delivered: Promise<void>,
  subs: readonly BenchSubscription[],
  receivers: readonly Receiver[],
): Promise<void> {
  // We cancel only after the last delivery, so any stream ending earlier is a failure.
  const outcome = await withTimeout(
    Promise.race([
      delivered.then(() => undefined),
      ...subs.map((x) => x.ended.then((e) => e ?? new Error("stream ended by the server"))),
    ]),
    o.timeoutMs,
    "every delivery",
  ).catch((e: unknown) => e);
  if (outcome === undefined) return;
  const counts = receivers.map((r) => r.count);
  const problems = receivers.filter((r) => r.problem !== undefined).length;
  throw new Error(
    `${o.kind}: deliveries incomplete: min ${Math.min(...counts)}, max ${Math.max(...counts)} ` +
      `of ${o.messages} per subscriber, ${problems} out of order: ${String(outcome)}`,
  );
}

/** Every subscriber saw seqs head+1..head+n in order, each carrying the index sent with it. */
function verify(
  kind: TransportKind,
  receivers: readonly Receiver[],
  heads: readonly bigint[],
  seqOf: BigInt64Array,
  n: number,
): void {
  receivers.forEach((r, s) => {
    const head = heads[s] as bigint;
    if (r.problem !== undefined || r.count !== n) {
      throw new Error(`${kind}: subscriber ${s}: ${r.problem ?? `${r.count} of ${n} messages`}`);
    }
    for (let k = 0; k < n; k++) {
      const index = r.indices[k] as number;
      if (seqOf[index] !== head + BigInt(k + 1)) {
        throw new Error(
          `${kind}: subscriber ${s}: delivery ${k} is message ${index}, seq mismatch`,
        );
      }
    }
  });
}
