import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { startRedis } from "../../../test/support/redis.ts";
import { createClusterEventBus } from "../../core/cluster-event-bus.ts";
import { presenceContract } from "../../core/presence.case.ts";
import { connectRedis, type RedisConnection } from "./connect.ts";
import { createRedisBus } from "./redis-bus.ts";
import { createRedisPresence } from "./redis-presence.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

let server: Promise<{ url: string }> | undefined;
/** One Redis for the file; each setup gets its own key prefix. */
function redisUrl(): Promise<string> {
  server ??= startRedis({ persistence: false }).then((redis) => {
    cleanups.push(() => redis.stop());
    return redis;
  });
  return server.then((s) => s.url);
}

/** An "instance": its own connection, bus and presence on `prefix`. */
async function instance(prefix: string, leaseMs?: number) {
  const connection = await connectRedis({ url: await redisUrl(), name: "presence-test" });
  cleanups.push(() => connection.close());
  const bus = await createClusterEventBus({ connect: createRedisBus({ connection, prefix }) });
  cleanups.push(() => bus.close());
  const presence = createRedisPresence({ connection, prefix, leaseMs });
  return { connection, bus, presence };
}

let prefixes = 0;
presenceContract("redis", { shared: true }, async () => {
  const prefix = `presence${++prefixes}`;
  return { instance: () => instance(prefix) };
});

describe("redis presence leases", () => {
  it("drops a crashed instance's members within the lease, and a live instance announces them gone", async () => {
    const prefix = "lease";
    const leaseMs = 400;
    const alive = await instance(prefix, leaseMs);
    const crashed = await instance(prefix, leaseMs);
    const heard: string[] = [];
    await alive.bus.listen("r", {
      onEvent(e) {
        if (e.kind.case === "memberLeft") heard.push(e.kind.value.name);
      },
    });
    alive.presence.join("r", "ann");
    crashed.presence.join("r", "dan");
    const names = async () => (await alive.presence.members("r")).map((m) => m.name);
    await waitFor(async () => (await names()).includes("dan"), 2000);
    // A crash: the connection goes, no leave is ever sent, renewals fail.
    await (crashed.connection as RedisConnection).close();
    const crashedAt = Date.now();
    await waitFor(async () => !(await names()).includes("dan"), 2000);
    assert.ok(Date.now() - crashedAt <= leaseMs + 200, "gone from members within the lease");
    await waitFor(async () => heard.includes("dan"), 2000);
    assert.ok(Date.now() - crashedAt <= leaseMs * 2 + 300, "memberLeft within lease + renewal");
    assert.deepEqual(await names(), ["ann"]);
    await alive.presence.close();
    await crashed.presence.close();
  });
});

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail("timed out");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
