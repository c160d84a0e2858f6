import type { ClusterBus, ClusterBusConnector } from "../../core/cluster-bus.ts";
import { StoreUnavailableError } from "../../core/errors.ts";
import type { RedisConnection } from "./connect.ts";
import { defaultPrefix, roomChannel } from "./keys.ts";

export interface RedisBusOptions {
  /** The instance's command connection: publishes go through it (the store's scripts publish too). */
  connection: RedisConnection;
  prefix?: string;
}

/**
 * The cluster bus on Redis pub/sub: one channel per room (`roomChannel`), a
 * shard channel on a Redis Cluster so that a room's events stay on the node
 * that holds its keys. Each instance holds ONE subscriber connection (one
 * per master on a cluster), however many client streams it serves: a room
 * is subscribed while the instance has local listeners in it.
 *
 * Redis pub/sub is at-most-once: what is published while the subscriber is
 * disconnected is lost. The client resubscribes by itself when it is back,
 * and `onResync` then tells the listeners to re-read the store.
 */
export function createRedisBus({
  connection,
  prefix = defaultPrefix,
}: RedisBusOptions): ClusterBusConnector {
  const sharded = connection.redis.kind === "cluster";
  const publishCommand = sharded ? "SPUBLISH" : "PUBLISH";
  return async (handler) => {
    let wasDown = false;
    const subscriber = await connection.duplicate({
      name: "chat-bus",
      onStatus(up) {
        if (!up) wasDown = true;
        else if (wasDown) {
          wasDown = false;
          handler.onResync();
        }
      },
    });
    /** Channel → topic, for the rooms subscribed. */
    const topics = new Map<string, string>();
    const listener = (message: Buffer, channel: Buffer | string) => {
      const topic = topics.get(String(channel));
      if (topic !== undefined) handler.onMessage(topic, message);
    };
    const { redis } = subscriber;

    const bus: ClusterBus = {
      async publish(topic, payload) {
        const channel = roomChannel(prefix, topic);
        try {
          await connection.command(channel, [publishCommand, channel, Buffer.from(payload)]);
        } catch (e) {
          throw new StoreUnavailableError(`cannot publish to room ${topic}`, { cause: e });
        }
      },
      async join(topic) {
        const channel = roomChannel(prefix, topic);
        if (topics.get(channel) === topic) return;
        topics.set(channel, topic);
        try {
          if (redis.kind === "cluster") await redis.cluster.sSubscribe(channel, listener, true);
          else await redis.client.subscribe(channel, listener, true);
        } catch (e) {
          topics.delete(channel);
          throw new StoreUnavailableError(`cannot subscribe to room ${topic}`, { cause: e });
        }
      },
      leave(topic) {
        const channel = roomChannel(prefix, topic);
        if (!topics.delete(channel)) return;
        const leaving =
          redis.kind === "cluster"
            ? redis.cluster.sUnsubscribe(channel, listener, true)
            : redis.client.unsubscribe(channel, listener, true);
        // While Redis is away there is nothing to leave; the client will not
        // resubscribe a channel it was told to drop.
        leaving.catch(() => {});
      },
      async close() {
        topics.clear();
        await subscriber.close();
      },
    };
    return bus;
  };
}
