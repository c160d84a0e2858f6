/**
 * `/metrics` and `/readyz` cases that need the server in-process: its
 * options (web root, CORS, subscriber buffer, store) and its health service.
 * The rest is in metrics.spec.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { buildApp } from "../../src/app.ts";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { ServingStatus } from "../../src/services/health.ts";
import { createMemoryStore } from "../../src/stores/memory-store.ts";
import { eventually, listenApp, withServer } from "../support/server.ts";
import { createTestTransport } from "../support/transports.ts";
import { getH2c, getHttp1, sampleValue, scrape } from "./support/metrics.ts";
import { openRawH2, rawSubscribe } from "./support/raw-h2.ts";

const subscribeMethod = "chat.v1.ChatService/Subscribe";

describe("metrics and health, in-process", () => {
  it("/metrics, /healthz and /readyz are not taken by the web client or CORS", async () => {
    const webRoot = mkdtempSync(join(tmpdir(), "chat-web-"));
    writeFileSync(join(webRoot, "index.html"), "<!doctype html><title>chat</title>");
    try {
      await withServer(
        async (server) => {
          for (const get of [getHttp1, getH2c]) {
            assert.equal((await get(server.url, "/")).status, 200, `the page, ${get.name}`);
            const metrics = await get(server.url, "/metrics");
            assert.equal(metrics.status, 200, get.name);
            assert.match(metrics.body, /^# TYPE chat_messages_sent_total counter$/m);
            assert.equal((await get(server.url, "/healthz")).body, "ok\n");
            assert.equal((await get(server.url, "/readyz")).body, "ready\n");
          }
        },
        { webRoot, corsOrigins: ["https://chat.example.com"] },
      );
    } finally {
      rmSync(webRoot, { recursive: true, force: true });
    }
  });

  it("count a slow subscriber cut off", () =>
    withServer(
      async (server) => {
        // A gRPC Subscribe on a raw h2 stream with a 1 KiB window that we do
        // not read: the server soon has to buffer, then cuts it off.
        const h2 = openRawH2(server.url, { settings: { initialWindowSize: 1024 } });
        const sub = rawSubscribe(h2.session, "slow");
        const { stream } = sub;
        const grpc = createTestTransport(server.url, "grpc");
        try {
          const client = createClient(ChatService, grpc.transport);
          await eventually(() => server.rooms.subscriberCount("slow") === 1, 3000, "subscribed");
          const text = "x".repeat(1024);
          for (let i = 0; i < 300 && server.rooms.subscriberCount("slow") === 1; i++) {
            await client.send({ room: "slow", sender: "s", text });
          }
          assert.equal(server.rooms.subscriberCount("slow"), 0, "never cut off");
          // The cut-off reaches the RPC edge once the stream can go on.
          stream.resume();
          await eventually(() => stream.closed, 5000, "the cut-off stream to end");
          const { trailers } = sub;
          assert.equal(trailers["grpc-status"], String(Code.ResourceExhausted));
          const samples = await scrape(server.url);
          assert.equal(
            sampleValue(samples, "chat_subscribers_cut_off_total", { method: subscribeMethod }),
            1,
          );
          assert.equal(
            sampleValue(samples, "chat_rpc_errors_total", {
              method: subscribeMethod,
              code: "resource_exhausted",
            }),
            1,
          );
        } finally {
          h2.close();
          grpc.close();
        }
      },
      { subscriberBuffer: 8, subscriberBufferBytes: 16 * 1024 },
    ));

  it("/readyz: 503 when not serving or the store does not answer, and once close begins", async () => {
    let storeDown = false;
    const memory = createMemoryStore();
    const store = {
      ...memory,
      epoch: memory.epoch,
      bounds: (room: string) => (storeDown ? new Promise<never>(() => {}) : memory.bounds(room)),
    };
    const server = await buildApp({ logger: false, shutdownTimeoutMs: 500, store });
    const duringClose: number[] = [];
    // Runs after buildApp's own preClose hook, which turns health NOT_SERVING.
    server.app.addHook("preClose", async () => {
      duringClose.push((await getHttp1(url, "/readyz")).status);
    });
    const { url } = await listenApp(server);
    let closed = false;
    try {
      assert.equal((await getHttp1(url, "/readyz")).status, 200);

      storeDown = true;
      const started = Date.now();
      const down = await getHttp1(url, "/readyz");
      assert.deepEqual([down.status, down.body], [503, "not ready: store unreachable\n"]);
      assert.ok(Date.now() - started < 3000, "the probe gives up after its timeout");
      assert.equal((await getHttp1(url, "/healthz")).status, 200, "alive all the same");
      storeDown = false;
      assert.equal((await getHttp1(url, "/readyz")).status, 200, "ready again");

      server.health.setStatus("", ServingStatus.NOT_SERVING);
      const draining = await getHttp1(url, "/readyz");
      assert.deepEqual(
        [draining.status, draining.body],
        [503, "not ready: not serving (shutting down)\n"],
      );
      server.health.setStatus("", ServingStatus.SERVING);
      assert.equal((await getHttp1(url, "/readyz")).status, 200);

      closed = true;
      await server.app.close();
      assert.deepEqual(duringClose, [503]);
    } finally {
      if (!closed) await server.app.close();
    }
  });
});
