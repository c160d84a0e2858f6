import type { ClusterBusConnector } from "../../core/cluster-bus.ts";
import { type ClusterEventBus, createClusterEventBus } from "../../core/cluster-event-bus.ts";
import type { MessageStore, RetentionPolicy } from "../../core/message-store.ts";
import type { Presence } from "../../core/presence.ts";
import { connectRedis, describePersistence, type RedisConnection } from "./connect.ts";
import { createRedisBus } from "./redis-bus.ts";
import { createRedisPresence } from "./redis-presence.ts";
import { createRedisStore, type RedisStore } from "./redis-store.ts";

export interface OpenRedisOptions {
  /** See `RedisConnectOptions.url`: one URL, or a cluster's seed nodes separated by commas. */
  url: string;
  prefix?: string;
  retention?: Partial<RetentionPolicy>;
  /** Presence lease; see `RedisPresenceOptions.leaseMs`. */
  presenceLeaseMs?: number;
  /**
   * Where the backend's failed publishes and presence updates go (the app's
   * logger once it exists). At debug level: while Redis is down every typing
   * notice fails, and the outage itself is logged once (health).
   */
  log: { debug(fields: object, message: string): void };
}

/** What `buildApp` takes to make this instance one of many (see BuildOptions). */
export interface RedisBackend {
  store: MessageStore;
  bus: ClusterEventBus;
  presence: Presence;
  /** The command connection's state, for health. */
  backendStatus: Pick<RedisConnection, "onStatus">;
  /** A warning to log at startup when Redis keeps nothing on disk; else undefined. */
  persistenceWarning: string | undefined;
}

/**
 * Runs `then` once `store` is available again; not at all if it closes first.
 * A resync that was waiting when the server shut down has nothing left to
 * re-read, and its rejection must not reach the process as unhandled (it
 * ended the process with exit 1 during shutdown in an outage).
 */
export function whenStoreAvailable(
  store: Pick<RedisStore, "whenAvailable">,
  then: () => void,
): void {
  store.whenAvailable().then(then, () => {
    // Closed while waiting: shutting down.
  });
}

/**
 * Connects this instance to a shared Redis: the store (history, seqs,
 * epoch), the bus (one subscriber connection) and presence (leases), all on
 * one key prefix. The store's `close` closes the connection after it, so
 * the app's one shutdown path (presence, bus, store) lets go of everything.
 */
export async function openRedisBackend(options: OpenRedisOptions): Promise<RedisBackend> {
  const { prefix, log } = options;
  const connection = await connectRedis({ url: options.url, name: "chat" });
  try {
    const store = await createRedisStore({ connection, prefix, retention: options.retention });
    const persistenceWarning = describePersistence(await connection.persistence());
    const redisBus = createRedisBus({ connection, prefix });
    // A resync re-reads the store: wait until it is usable again (its epoch
    // checked), or every feed would fail its catch-up at once.
    const connect: ClusterBusConnector = (handler) =>
      redisBus({
        onMessage: handler.onMessage,
        onResync: () => whenStoreAvailable(store, handler.onResync),
      });
    const bus = await createClusterEventBus({
      connect,
      onError: (err, what) => log.debug({ err }, `bus: ${what} failed`),
    });
    const presence = createRedisPresence({
      connection,
      prefix,
      leaseMs: options.presenceLeaseMs,
      onError: (err, what) => log.debug({ err }, `presence: ${what} failed`),
    });
    return {
      store: {
        get epoch() {
          return store.epoch;
        },
        publishesAppends: store.publishesAppends,
        append: (message) => store.append(message),
        readAfter: (room, afterSeq, limit) => store.readAfter(room, afterSeq, limit),
        readBefore: (room, beforeSeq, limit) => store.readBefore(room, beforeSeq, limit),
        bounds: (room) => store.bounds(room),
        async close() {
          try {
            await store.close();
          } finally {
            await connection.close();
          }
        },
      },
      bus,
      presence,
      backendStatus: connection,
      persistenceWarning,
    };
  } catch (e) {
    await connection.close();
    throw e;
  }
}
