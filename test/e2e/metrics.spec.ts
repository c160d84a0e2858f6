/**
 * The operator's view over plain HTTP, on the RPC port: `/metrics`
 * (Prometheus), `/healthz` and `/readyz`, fed by real calls of every
 * protocol. Runs in the runtime matrix too (against `src/main.ts` on Node,
 * Bun and Deno); what needs the server in-process is in
 * metrics-in-process.spec.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { ChatServer } from "../../src/gen/grpc/chat_pb.ts";
import { chosenRuntime } from "../support/runtimes.ts";
import { eventually, withServerUnderTest } from "../support/server.ts";
import { createTestTransport } from "../support/transports.ts";
import {
  getH2c,
  getHttp1,
  parseMetrics,
  type Sample,
  sampleValue,
  scrape,
} from "./support/metrics.ts";
import { subscribe } from "./support/subscribe.ts";

const subscribeMethod = "chat.v1.ChatService/Subscribe";
const chatStreamMethod = "grpc.ChatServer/ChatStream";

/** Every metric docs/operations.md lists. */
const metricNames = [
  "chat_tcp_connections_open",
  "chat_requests_open",
  "chat_requests_total",
  "chat_streams_open",
  "chat_messages_sent_total",
  "chat_messages_delivered_total",
  "chat_delivery_latency_seconds",
  "chat_subscribers_cut_off_total",
  "chat_rpc_errors_total",
  "chat_store_operation_duration_seconds",
  // The process's, from prom-client's default metrics (on Bun and Deno too).
  "process_cpu_seconds_total",
  "process_resident_memory_bytes",
  "nodejs_eventloop_lag_seconds",
  "nodejs_heap_size_used_bytes",
];

describe("operator endpoints over HTTP", () => {
  it("/metrics and the liveness and readiness probes answer over HTTP/1.1 and h2c", (t) =>
    withServerUnderTest(async (server) => {
      // Deno 2.9.6 can abort at shutdown after short h2c GETs (an nghttp2
      // assertion, about 1 run in 5; docs/runtimes.md): h2c is checked on
      // the other runtimes, HTTP/1.1 on all.
      const deno = chosenRuntime() === "deno";
      if (deno) t.diagnostic("h2c leg not run on Deno: see docs/runtimes.md");
      for (const get of deno ? [getHttp1] : [getHttp1, getH2c]) {
        const metrics = await get(server.url, "/metrics");
        assert.equal(metrics.status, 200, get.name);
        assert.equal(metrics.contentType, "text/plain; version=0.0.4; charset=utf-8");
        for (const name of metricNames) {
          assert.match(metrics.body, new RegExp(`^# TYPE ${name} `, "m"), name);
        }
        assert.ok(parseMetrics(metrics.body).length > 0, "well-formed samples");
        assert.deepEqual(
          await get(server.url, "/healthz"),
          { status: 200, contentType: "text/plain; charset=utf-8", body: "ok\n" },
          get.name,
        );
        const ready = await get(server.url, "/readyz");
        assert.deepEqual([ready.status, ready.body], [200, "ready\n"], get.name);
      }
      // The scrape itself is an open request, as the scraper sees it.
      const samples = await scrape(server.url);
      assert.equal(
        sampleValue(samples, "chat_requests_open", { protocol: "other", http_version: "1.1" }),
        1,
      );
      assert.ok(sampleValue(samples, "chat_tcp_connections_open") >= 1);
    }));

  it("count sends, live and replayed deliveries, their latency, open streams and requests", () =>
    withServerUnderTest(async (server) => {
      const room = "lobby"; // the seed's room too
      const connect = createTestTransport(server.url, "connect-h2");
      const grpcWeb = createTestTransport(server.url, "grpcweb-h1");
      const grpc = createTestTransport(server.url, "grpc");
      const client = createClient(ChatService, connect.transport);
      const seedAbort = new AbortController();
      const live = subscribe(client, { room, name: "ann" });
      let replay: ReturnType<typeof subscribe> | undefined;
      try {
        await live.waitForReady();
        for (const text of ["one", "two", "three"]) {
          await client.send({ room, sender: "bob", text });
        }
        await live.waitForMessages(3);
        let samples = await scrape(server.url);
        assert.equal(sampleValue(samples, "chat_messages_sent_total"), 3);
        assert.equal(sampleValue(samples, "chat_messages_delivered_total"), 3);
        assert.equal(sampleValue(samples, "chat_delivery_latency_seconds_count"), 3);
        assert.ok(
          sampleValue(samples, "chat_delivery_latency_seconds_sum") < 3,
          "latency under 1 s",
        );
        assert.equal(
          sampleValue(samples, "chat_store_operation_duration_seconds_count", {
            operation: "append",
          }),
          3,
        );

        // History replayed to a new subscriber, chat.v1's or the seed's, is
        // delivered but is no Send-to-delivery latency.
        replay = subscribe(createClient(ChatService, grpcWeb.transport), {
          room,
          start: { case: "last", value: 3 },
        });
        await replay.waitForMessages(3);
        const notes: string[] = [];
        const seed = (async () => {
          const stream = createClient(ChatServer, grpc.transport).chatStream(
            {},
            { signal: seedAbort.signal },
          );
          for await (const note of stream) notes.push(note.message);
        })().catch(() => {});
        await eventually(() => notes.length === 3, 3000, "the seed stream's 3 notes");
        samples = await scrape(server.url);
        assert.equal(sampleValue(samples, "chat_messages_delivered_total"), 9);
        assert.equal(sampleValue(samples, "chat_delivery_latency_seconds_count"), 3);
        assert.equal(sampleValue(samples, "chat_streams_open", { method: subscribeMethod }), 2);
        assert.equal(sampleValue(samples, "chat_streams_open", { method: chatStreamMethod }), 1);
        for (const [protocol, http_version] of [
          ["connect", "2"],
          ["grpc-web", "1.1"],
          ["grpc", "2"],
        ] as const) {
          assert.equal(
            sampleValue(samples, "chat_requests_open", { protocol, http_version }),
            1,
            `${protocol} over HTTP/${http_version}`,
          );
        }
        assert.equal(sampleValue(samples, "chat_requests_total", { protocol: "connect" }), 4);

        // One more, live to both chat.v1 subscribers. (The seed's stream
        // has gone first: whether a live note is timed depends on the path
        // that serves it, as a Note carries no time.)
        seedAbort.abort();
        await seed;
        await client.send({ room, sender: "bob", text: "four" });
        await live.waitForMessages(4);
        await replay.waitForMessages(4);
        samples = await scrape(server.url);
        assert.equal(sampleValue(samples, "chat_messages_sent_total"), 4);
        assert.equal(sampleValue(samples, "chat_messages_delivered_total"), 11);
        assert.equal(sampleValue(samples, "chat_delivery_latency_seconds_count"), 5);

        await live.cancel();
        await replay.cancel();
        await eventuallyScraped(server.url, "no stream left open", (s) =>
          [subscribeMethod, chatStreamMethod].every(
            (method) => sampleValue(s, "chat_streams_open", { method }) === 0,
          ),
        );
        await eventuallyScraped(
          server.url,
          "no RPC request left open",
          (s) =>
            sampleValue(s, "chat_requests_open") ===
            sampleValue(s, "chat_requests_open", { protocol: "other" }),
        );
      } finally {
        await live.cancel();
        await replay?.cancel();
        seedAbort.abort();
        connect.close();
        grpcWeb.close();
        grpc.close();
      }
    }));

  it("count errors by code and method", () =>
    withServerUnderTest(async (server) => {
      const grpc = createTestTransport(server.url, "grpc");
      try {
        const client = createClient(ChatService, grpc.transport);
        for (let i = 0; i < 2; i++) {
          await assert.rejects(client.send({ room: "Not A Room!", sender: "x", text: "x" }), (e) =>
            hasCode(e, Code.InvalidArgument),
          );
        }
        await assert.rejects(
          (async () => {
            for await (const _ of client.subscribe({
              room: "r",
              start: { case: "afterSeq", value: 5n },
            })) {
              // The position is ahead of the room: no event comes.
            }
          })(),
          (e) => hasCode(e, Code.OutOfRange),
        );
        const samples = await scrape(server.url);
        assert.equal(
          sampleValue(samples, "chat_rpc_errors_total", {
            method: "chat.v1.ChatService/Send",
            code: "invalid_argument",
          }),
          2,
        );
        assert.equal(
          sampleValue(samples, "chat_rpc_errors_total", {
            method: subscribeMethod,
            code: "out_of_range",
          }),
          1,
        );
        assert.equal(sampleValue(samples, "chat_rpc_errors_total"), 3);
      } finally {
        grpc.close();
      }
    }));
});

function hasCode(e: unknown, code: Code): boolean {
  return e instanceof ConnectError && e.code === code;
}

/** Scrapes until `predicate` holds of the samples; fails after 3 s. */
async function eventuallyScraped(
  url: string,
  what: string,
  predicate: (samples: Sample[]) => boolean,
): Promise<void> {
  const deadline = Date.now() + 3000;
  for (;;) {
    if (predicate(await scrape(url))) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
