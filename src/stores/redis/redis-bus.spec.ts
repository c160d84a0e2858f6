import { after } from "node:test";
import { startRedis, startRedisCluster } from "../../../test/support/redis.ts";
import { clusterBusContract } from "../../core/cluster-bus.case.ts";
import { connectRedis } from "./connect.ts";
import { createRedisBus } from "./redis-bus.ts";

/** Servers, shut down after the file. */
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** One server per suite, started on first use (the contract's topics differ per test). */
function shared(start: () => Promise<{ url: string; stop(): Promise<void> }>) {
  let started: Promise<{ url: string }> | undefined;
  return async () => {
    started ??= start().then((redis) => {
      cleanups.push(() => redis.stop());
      return redis;
    });
    const connection = await connectRedis({ url: (await started).url, name: "bus-test" });
    return { connect: createRedisBus({ connection }), teardown: () => connection.close() };
  };
}

clusterBusContract(
  "redis",
  shared(() => startRedis({ persistence: false })),
);

clusterBusContract(
  "redis cluster (sharded pub/sub)",
  shared(() => startRedisCluster({ persistence: false })),
);
