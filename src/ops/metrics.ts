import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { createCountedHistogram } from "./counted-histogram.ts";

/**
 * What the server exports to Prometheus at `GET /metrics`, and the calls that
 * feed it. Every name starts with `chat_` (docs/operations.md lists them).
 *
 * Each app owns its registry, so tests can build many apps in one process;
 * the process metrics (`process_*`, `nodejs_*`) are the process's and are
 * registered once per process.
 *
 * The delivery calls (`delivered`, `deliveredUntimed`, `cutOff`) run once per
 * message per subscriber, from the Connect path (`createRpcMetricsInterceptor`)
 * or from any path that writes to subscribers without Connect: they allocate
 * nothing and only count; the registry reads the counts at a scrape.
 */
export interface ChatMetrics {
  /** The app's own registry (without the process metrics). */
  readonly registry: Registry;
  /** Content type of {@link text}: Prometheus text format 0.0.4. */
  readonly contentType: string;
  /** Every metric in the text format, the process metrics included. */
  text(): Promise<string>;

  /** A TCP connection was accepted; call {@link connectionClosed} once when it closes. */
  connectionOpened(): void;
  connectionClosed(): void;
  /** An HTTP request started; call {@link requestClosed} once with the same labels when its response closes. */
  requestOpened(protocol: RpcProtocol, httpVersion: string): void;
  requestClosed(protocol: RpcProtocol, httpVersion: string): void;

  /** A message was stored (a retry of a stored client id is not a new one). */
  sent(): void;
  /**
   * One live message was written to one subscriber: counts it and observes
   * its Send-to-delivery latency, from `sentAt` (the server's clock at the
   * append) to now. Without `sentAt` it only counts.
   */
  delivered(message: { readonly sentAt?: Timestamp }): void;
  /**
   * One message was written to one subscriber whose latency means nothing:
   * history replayed to a (re)subscriber measures the age of the history,
   * and the seed's notes carry no time. Counts it only.
   */
  deliveredUntimed(): void;
  /** A subscriber of `method` (`chat.v1.ChatService/Subscribe`) was cut off for reading too slowly. */
  cutOff(method: string): void;
  /** A call of `method` ended with `code` (Connect's name: `permission_denied`). */
  rpcError(method: string, code: string): void;
  /** One store operation (`append`, `readAfter`, ...) took `seconds`. */
  storeOperation(operation: string, seconds: number): void;
}

/** How a request speaks, from its content type; `other` for pages, probes, preflights. */
export type RpcProtocol = "grpc" | "grpc-web" | "connect" | "other";

export interface MetricsOptions {
  /** Open streaming calls by method, read at each scrape (`OpenStreams`). */
  streams?: {
    count(method: string): number;
    methods(): Iterable<string>;
  };
}

/**
 * Send-to-delivery latency buckets (seconds): a prompt delivery on one host
 * is well under a millisecond; seconds mean a subscriber that is behind.
 */
const deliveryBuckets = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Store latency buckets (seconds): an in-memory read is microseconds, a synced SQLite commit milliseconds. */
const storeBuckets = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

let processRegistry: Registry | undefined;

/**
 * The process metrics, created on first use. Once per process: each
 * `collectDefaultMetrics` starts an event-loop monitor and a GC observer
 * that are never stopped, and the process is one whatever the number of
 * apps. They work on Node, Bun and Deno alike (checked with prom-client
 * 15.1 on Bun 1.4 and Deno 2.9). Names are prom-client's standard ones
 * (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, ...), which
 * ready-made dashboards expect.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export function createMetrics(options: MetricsOptions = {}): ChatMetrics {
  const registry = new Registry();
  const registers = [registry];

  const tcpOpen = new Gauge({
    name: "chat_tcp_connections_open",
    help: "TCP connections open now (all protocols, before TLS or protocol sniffing).",
    registers,
  });
  const requestLabels = ["protocol", "http_version"] as const;
  const requestsOpen = new Gauge({
    name: "chat_requests_open",
    help: "HTTP requests open now (a streaming call is open until it ends), by protocol (grpc, grpc-web, connect, other) and HTTP version.",
    labelNames: requestLabels,
    registers,
  });
  const requestsTotal = new Counter({
    name: "chat_requests_total",
    help: "HTTP requests received, by protocol (grpc, grpc-web, connect, other) and HTTP version.",
    labelNames: requestLabels,
    registers,
  });
  const { streams } = options;
  /** Every method seen with a stream open, so that it reads 0 once they end instead of vanishing. */
  const streamMethods = new Set<string>();
  new Gauge({
    name: "chat_streams_open",
    help: "Streaming calls whose handler is still running, by method (chat.v1.ChatService/Subscribe).",
    labelNames: ["method"],
    registers,
    collect() {
      if (streams === undefined) return;
      for (const method of streams.methods()) streamMethods.add(method);
      for (const method of streamMethods) this.set({ method }, streams.count(method));
    },
  });
  const sentTotal = new Counter({
    name: "chat_messages_sent_total",
    help: "Messages stored (sent by any API); a retried client id is not counted again.",
    registers,
  });
  /** Deliveries since the last scrape: a number per delivery, folded into the counter when read. */
  let deliveredPending = 0;
  new Counter({
    name: "chat_messages_delivered_total",
    help: "Messages written to subscribers, one per message per subscriber, live and replayed.",
    registers,
    collect() {
      this.inc(deliveredPending);
      deliveredPending = 0;
    },
  });
  const deliveryLatency = createCountedHistogram({
    name: "chat_delivery_latency_seconds",
    help: "Send-to-delivery latency of live messages: from the store's sentAt to the write to a subscriber.",
    buckets: deliveryBuckets,
    registry,
  });
  /** The last message delivered and its sentAt in ms: a fan-out delivers one message many times in a row. */
  let lastMessage: { readonly sentAt?: Timestamp } | undefined;
  let lastSentMs = 0;
  const cutOffTotal = new Counter({
    name: "chat_subscribers_cut_off_total",
    help: "Subscribers cut off for reading too slowly (their buffer overflowed), by method.",
    labelNames: ["method"],
    registers,
  });
  const rpcErrors = new Counter({
    name: "chat_rpc_errors_total",
    help: "Calls that ended with an error, by method and code (unauthenticated, permission_denied, resource_exhausted, ...).",
    labelNames: ["method", "code"],
    registers,
  });
  const storeLatency = new Histogram({
    name: "chat_store_operation_duration_seconds",
    help: "Latency of message store operations, by operation (append, readAfter, readBefore, bounds).",
    labelNames: ["operation"],
    buckets: storeBuckets,
    registers,
  });

  /** Label objects by protocol and version: a handful, reused by every request. */
  const requestLabelSets = new Map<string, { protocol: RpcProtocol; http_version: string }>();
  function labelsOf(protocol: RpcProtocol, httpVersion: string) {
    const key = `${protocol} ${httpVersion}`;
    let labels = requestLabelSets.get(key);
    if (labels === undefined) {
      labels = { protocol, http_version: httpVersion };
      requestLabelSets.set(key, labels);
    }
    return labels;
  }

  return {
    registry,
    contentType: registry.contentType,
    async text() {
      return (await processMetrics().metrics()) + (await registry.metrics());
    },
    connectionOpened: () => tcpOpen.inc(),
    connectionClosed: () => tcpOpen.dec(),
    requestOpened(protocol, httpVersion) {
      const labels = labelsOf(protocol, httpVersion);
      requestsOpen.inc(labels);
      requestsTotal.inc(labels);
    },
    requestClosed(protocol, httpVersion) {
      requestsOpen.dec(labelsOf(protocol, httpVersion));
    },
    sent: () => sentTotal.inc(),
    delivered(message) {
      deliveredPending++;
      if (message !== lastMessage) {
        const sentAt = message.sentAt;
        if (sentAt === undefined) return;
        lastMessage = message;
        lastSentMs = Number(sentAt.seconds) * 1000 + sentAt.nanos / 1e6;
      }
      // Never negative: sentAt and now are read from the same clock, but a
      // step of the clock between the two must not break the histogram.
      deliveryLatency.observe(Math.max(0, Date.now() - lastSentMs) / 1000);
    },
    deliveredUntimed: () => {
      deliveredPending++;
    },
    cutOff: (method) => cutOffTotal.inc({ method }),
    rpcError: (method, code) => rpcErrors.inc({ method, code }),
    storeOperation: (operation, seconds) => storeLatency.observe({ operation }, seconds),
  };
}
