import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { Health } from "../gen/grpc/health/v1/health_pb.ts";
import { createHealthService, type HealthService, ServingStatus } from "./health.ts";

function setup(health: HealthService = createHealthService()) {
  const client = createClient(
    Health,
    createRouterTransport((router) => health.register(router)),
  );
  return { health, client };
}

/** Lets aborts and generator cleanups propagate through the in-memory transport. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await tick();
}

describe("health service", () => {
  it("reports the server as a whole SERVING by default", async () => {
    const { client } = setup();
    assert.equal((await client.check({ service: "" })).status, ServingStatus.SERVING);
  });

  it("answers Check for an unknown service with NotFound", async () => {
    const { client } = setup();
    await assert.rejects(
      client.check({ service: "nope.v1.Nope" }),
      (e) => ConnectError.from(e).code === Code.NotFound,
    );
  });

  it("lists every status", async () => {
    const { health, client } = setup();
    health.setStatus("chat.v1.ChatService", ServingStatus.NOT_SERVING);
    const { statuses } = await client.list({});
    assert.deepEqual(Object.fromEntries(Object.entries(statuses).map(([k, v]) => [k, v.status])), {
      "": ServingStatus.SERVING,
      "chat.v1.ChatService": ServingStatus.NOT_SERVING,
    });
  });

  it("streams the current status, each change, then NOT_SERVING on shutdown", async () => {
    const { health, client } = setup();
    const abort = new AbortController();
    const stream = client.watch({ service: "" }, { signal: abort.signal })[Symbol.asyncIterator]();

    assert.equal((await stream.next()).value?.status, ServingStatus.SERVING);
    assert.equal(health.watcherCount(), 1);

    health.setStatus("", ServingStatus.SERVING); // no change: nothing sent
    health.setStatus("other", ServingStatus.NOT_SERVING); // other service: nothing sent
    health.shutdown();
    assert.equal((await stream.next()).value?.status, ServingStatus.NOT_SERVING);

    health.setStatus("", ServingStatus.SERVING); // ignored once shut down
    assert.equal((await client.check({ service: "" })).status, ServingStatus.NOT_SERVING);

    abort.abort();
    await assert.rejects(stream.next(), (e) => ConnectError.from(e).code === Code.Canceled);
    await settle();
    assert.equal(health.watcherCount(), 0);
  });

  it("streams SERVICE_UNKNOWN for an unknown service and keeps waiting", async () => {
    const { health, client } = setup();
    const abort = new AbortController();
    const stream = client
      .watch({ service: "later.v1.Later" }, { signal: abort.signal })
      [Symbol.asyncIterator]();

    assert.equal((await stream.next()).value?.status, ServingStatus.SERVICE_UNKNOWN);
    health.setStatus("later.v1.Later", ServingStatus.SERVING);
    assert.equal((await stream.next()).value?.status, ServingStatus.SERVING);

    abort.abort();
    await assert.rejects(stream.next());
    await settle();
    assert.equal(health.watcherCount(), 0);
  });

  it("ends Watch and removes the watcher when the server shuts down", async () => {
    const health = createHealthService();
    const shutdown = new AbortController();
    const transport = createRouterTransport((router) => health.register(router), {
      router: { shutdownSignal: shutdown.signal },
    });
    const stream = createClient(Health, transport).watch({ service: "" })[Symbol.asyncIterator]();
    assert.equal((await stream.next()).value?.status, ServingStatus.SERVING);

    health.shutdown();
    assert.equal((await stream.next()).value?.status, ServingStatus.NOT_SERVING);
    shutdown.abort(new ConnectError("server shutting down", Code.Unavailable));
    await assert.rejects(stream.next(), (e) => ConnectError.from(e).code === Code.Unavailable);
    await settle();
    assert.equal(health.watcherCount(), 0);
  });
});
