import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Event, EventSchema } from "../gen/chat/v1/chat_pb.ts";
import type { ClusterBus, ClusterBusConnector } from "./cluster-bus.ts";
import { type BusListener, createEventBus, type EventBus } from "./event-bus.ts";

/** An `EventBus` shared by server instances; `close` lets go of the broker. */
export interface ClusterEventBus extends EventBus<Event> {
  close(): Promise<void>;
}

export interface ClusterEventBusOptions {
  connect: ClusterBusConnector;
  /** Told about payloads that do not decode and publishes that fail (never thrown: typing is best effort). */
  onError?: (error: unknown, what: string) => void;
}

/**
 * The chat's event bus across instances: an event is encoded once per
 * publish, crosses the broker once, is decoded once per instance, and the
 * one decoded object is handed to every local listener (so the fast path's
 * encode-once cache keeps working per instance).
 *
 * Every event goes through the broker, the publishing instance's own
 * listeners included: one order per room on every instance, whoever
 * published. A room is joined at the broker while it has local listeners;
 * the first listener's `listen` returns the join, which the feed awaits
 * before reading the store.
 */
export async function createClusterEventBus(
  options: ClusterEventBusOptions,
): Promise<ClusterEventBus> {
  const { onError = () => {} } = options;
  const local = createEventBus<Event>();
  /** Rooms joined at the broker (or being joined), with the join in flight. */
  const joins = new Map<string, Promise<void>>();
  /** Every local listener, for resyncs. */
  const listeners = new Map<BusListener<Event>, string>();

  const cluster: ClusterBus = await options.connect({
    onMessage(topic, payload) {
      let event: Event;
      try {
        event = fromBinary(EventSchema, payload);
      } catch (e) {
        onError(e, `undecodable event on ${topic}`);
        return;
      }
      local.publish(topic, event);
    },
    onResync() {
      for (const listener of [...listeners.keys()]) listener.onResync?.();
    },
  });

  return {
    publish(topic, event) {
      cluster
        .publish(topic, toBinary(EventSchema, event))
        .catch((e: unknown) => onError(e, `publish to ${topic}`));
    },

    listen(topic, listener) {
      local.listen(topic, listener);
      listeners.set(listener, topic);
      let joining = joins.get(topic);
      if (joining === undefined) {
        joining = cluster.join(topic);
        joins.set(topic, joining);
        // A failed join is retried by the next listener.
        joining.catch(() => {
          if (joins.get(topic) === joining) joins.delete(topic);
        });
      }
      return joining;
    },

    unlisten(topic, listener) {
      local.unlisten(topic, listener);
      listeners.delete(listener);
      if (local.subscriberCount(topic) === 0 && joins.has(topic)) {
        joins.delete(topic);
        cluster.leave(topic);
      }
    },

    subscriberCount(topic) {
      return local.subscriberCount(topic);
    },

    close() {
      return cluster.close();
    },
  };
}
