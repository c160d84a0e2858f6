/**
 * What the runtime matrix runs on each runtime, and why the rest is left to
 * `npm test` (Node 20, server in-process). Every file is named here: nothing
 * is skipped silently.
 */

/**
 * End-to-end: clients run on Node (the test runner), the server is
 * `src/main.ts` started as a subprocess on the runtime under test
 * (CHAT_TEST_RUNTIME; see test/support/server.ts).
 */
export const e2eFiles = [
  // connect-node clients: gRPC (h2c), gRPC-Web and Connect over HTTP/1.1 and
  // h2c; unary, server streaming, bidi, HTTP/1.1 bidi refusal, shutdown.
  "test/e2e/protocols.spec.ts",
  // @grpc/grpc-js: unary, streams, bidi, deadlines, health Check.
  "test/e2e/grpc-js.spec.ts",
  // buf curl (connect-go): every protocol, reflection v1/v1alpha, health.
  "test/e2e/buf-curl.spec.ts",
  // The seed's own Python client (grpcio).
  "test/e2e/seed-python.spec.ts",
  // TLS with ALPN (h2 and HTTP/1.1) for every protocol, handshake timeout.
  "test/e2e/tls.spec.ts",
  // SIGKILL right after the last acknowledgement: every acked message is
  // there after a restart, through this runtime's SQLite driver.
  "test/e2e/durability.spec.ts",
  // /metrics (prom-client, process metrics included), /healthz, /readyz.
  "test/e2e/metrics.spec.ts",
  // JWTs (jose) on every protocol: who speaks, room claims, expiring streams.
  "test/e2e/auth.spec.ts",
  // --store redis: three instances on one Redis are one chat; a Redis outage.
  "test/e2e/redis-instances.spec.ts",
  // Process-level: startup line, exit codes, signals, runtime workarounds.
  "test/runtimes/startup.spec.ts",
  "test/runtimes/shutdown.spec.ts",
  "test/runtimes/runtime-quirks.spec.ts",
];

/**
 * Left to `npm test`, with the reason. They need the server's internals
 * in-process or test behaviour that does not depend on the runtime's HTTP
 * stack, or cost more than the matrix budget (CI adds at most ~8 minutes).
 */
export const e2eNotInMatrix: Record<string, string> = {
  "test/e2e/bad-input.spec.ts": "validation and error mapping: runtime-independent code",
  "test/e2e/cli.spec.ts": "Node 20 only; test/runtimes/startup.spec.ts covers it per runtime",
  "test/e2e/close-with-open-sessions.spec.ts":
    "asserts the in-process app.close() timing; shutdown.spec.ts runs per runtime",
  "test/e2e/data-dir.spec.ts": "file-system errors of the data directory, through Node's fs",
  "test/e2e/fast-stream.spec.ts":
    "asserts the in-process fast path's counters; protocols.spec.ts runs the same path per runtime",
  "test/e2e/fast-unary.spec.ts":
    "asserts the in-process fast path's counters; protocols.spec.ts runs the same path per runtime",
  "test/e2e/long-deadlines.spec.ts": "deadline clamping: runtime-independent header rewriting",
  "test/e2e/released-streams.spec.ts": "asserts in-process subscription and stream counts",
  "test/e2e/tls-shutdown.spec.ts":
    "asserts the in-process app.close() timing over TLS; tls.spec.ts runs per runtime",
  "test/e2e/undecodable-requests.spec.ts": "asserts the in-process server's log lines",
  "test/e2e/fuzz-framing.spec.ts":
    "thousands of raw connections; asserts the in-process heap and connection count",
  "test/e2e/fuzz-rpc.spec.ts":
    "thousands of requests; asserts the in-process heap, connection count and log",
  "test/e2e/hostile-connections.spec.ts":
    "needs in-process options (timeouts, per-IP limit) and connection counts",
  "test/e2e/hostile-rapid-reset.spec.ts":
    "an attacker process against the in-process server; asserts its event-loop use",
  "test/e2e/limits.spec.ts": "limits read from the in-process server's options",
  "test/e2e/malformed-frames.spec.ts": "raw frames; asserts in-process subscription counts",
  "test/e2e/metrics-in-process.spec.ts":
    "needs the in-process server's options (store, buffer, web root) and health service",
  "test/e2e/presence.spec.ts": "presence and typing: runtime-independent core logic",
  "test/e2e/redis-balancer.spec.ts":
    "nginx in front of three instances: runtime-independent; redis-instances.spec.ts runs per runtime",
  "test/e2e/redis-chaos.spec.ts":
    "chaos (kills, Redis restart, cut connections): long; redis-instances.spec.ts runs per runtime",
  "test/e2e/rate-limits.spec.ts":
    "needs in-process options (refusal hold, per-minute rates); token buckets run natively",
  "test/e2e/resume.spec.ts": "chaos proxy resume: long, runtime-independent logic",
  "test/e2e/stalled-subscriber.spec.ts": "asserts in-process subscription counts",
};

/**
 * Native: the unit and contract suites run by the runtime itself (`node
 * --test`, `bun test`, `deno test`), in-process. The store contract suite
 * (src/core/message-store.case.ts) runs through memory-store.spec.ts,
 * sqlite-store.spec.ts and redis-store.spec.ts, so each runtime's SQLite
 * driver, and @redis/client on each runtime's node:net, are checked. The
 * Redis spec starts its own redis-server processes (Deno: --allow-run).
 */
export const nativeFiles = [
  "src/auth/authenticator.spec.ts",
  "src/auth/checks.spec.ts",
  "src/config.spec.ts",
  "src/core/chat-rooms.spec.ts",
  "src/core/cluster-bus.spec.ts",
  "src/core/cluster-event-bus.spec.ts",
  "src/core/event-bus.spec.ts",
  "src/stores/memory-store.spec.ts",
  "src/core/presence.spec.ts",
  "src/core/recent-cache.spec.ts",
  "src/core/replay-plan.spec.ts",
  "src/core/seq-cursor.spec.ts",
  "src/core/typing-throttle.spec.ts",
  "src/server/ip-guard.spec.ts",
  "src/server/one-port-server.spec.ts",
  "src/server/sniff.spec.ts",
  "src/ops/counted-histogram.spec.ts",
  "src/ops/metrics.spec.ts",
  "src/ops/store-metrics.spec.ts",
  "src/rate-limit/token-bucket.spec.ts",
  "src/stores/redis/redis-bus.spec.ts",
  "src/stores/redis/redis-presence.spec.ts",
  "src/stores/redis/redis-store.spec.ts",
  "src/services/health.spec.ts",
  "src/services/reflection.spec.ts",
  "src/stores/sqlite/sqlite-store.spec.ts",
];

export const nativeNotInMatrix: Record<string, string> = {
  "test/runtimes/matrix-files.spec.ts":
    "checks this list against the tree: nothing runtime-specific",
  "src/fast-path/stream-writer.spec.ts":
    "drives the writer with Node's response objects; e2e protocol suites run the writer per runtime",
  "src/http/coalesce-writes.spec.ts":
    "drives the hook with Node's response objects; e2e protocol suites run it per runtime",
  "src/http/web-client.spec.ts":
    "builds the browser bundle with esbuild, whose service process Deno cannot start (ChildProcess.unref)",
};
