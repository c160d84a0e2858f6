/**
 * Carries bytes between server instances by topic (a chat room): the seam a
 * distributed backend plugs into, in the spirit of the socket.io cluster
 * adapter. Three methods and a handler; what the bytes mean is the caller's
 * business (see `cluster-event-bus.ts`), so a backend never sees a protobuf
 * type. Every implementation runs `cluster-bus.case.ts`.
 *
 * Contract:
 * - A payload published to a topic reaches the handler of every instance
 *   that joined the topic, the publishing instance included, once.
 * - Payloads of one topic reach every instance in one order, the same for
 *   all of them (the broker's order).
 * - `join` resolves once payloads published from then on are delivered.
 * - While the connection to the broker is down, payloads may be lost; once
 *   it is back, `onResync` tells the handler so, and it re-reads what it
 *   needs from the store (chat messages carry seqs: nothing is lost for good).
 */
export interface ClusterBus {
  /** Rejects when the broker cannot be reached; nothing is queued for later. */
  publish(topic: string, payload: Uint8Array): Promise<void>;
  /** Starts delivering the topic's payloads to the handler. Joining twice is one join. */
  join(topic: string): Promise<void>;
  /** Stops delivering the topic's payloads (no-op when not joined). */
  leave(topic: string): void;
  /** Leaves every topic and lets go of the broker. */
  close(): Promise<void>;
}

/** What a cluster bus calls back; one per instance. */
export interface ClusterBusHandler {
  onMessage(topic: string, payload: Uint8Array): void;
  /** The connection to the broker was lost and is back: payloads may have been lost meanwhile. */
  onResync(): void;
}

/** Makes one instance's bus, calling back `handler`. */
export type ClusterBusConnector = (handler: ClusterBusHandler) => Promise<ClusterBus>;

/** A broker in this process; see {@link createLocalClusterHub}. */
export interface LocalClusterHub {
  connect: ClusterBusConnector;
  /**
   * Drops every payload meant for `bus` (as a broker connection that is
   * down would) until the returned function is called, which resyncs it.
   */
  cut(bus: ClusterBus): () => void;
}

/**
 * A broker inside one process, for tests and the contract suite: each
 * `connect` is one "instance". Delivery is asynchronous (a microtask), like
 * a real broker's, so nothing may rely on a publisher's turn.
 */
export function createLocalClusterHub(): LocalClusterHub {
  const members = new Map<string, Set<ClusterBusHandler>>();
  const handlers = new Map<ClusterBus, ClusterBusHandler>();
  const cutOff = new Set<ClusterBusHandler>();

  return {
    async connect(handler) {
      const joined = new Set<string>();
      let closed = false;
      const bus: ClusterBus = {
        async publish(topic, payload) {
          if (closed) throw new Error("cluster bus is closed");
          const copy = payload.slice();
          const targets = [...(members.get(topic) ?? [])];
          queueMicrotask(() => {
            for (const target of targets) if (!cutOff.has(target)) target.onMessage(topic, copy);
          });
        },
        async join(topic) {
          if (closed) throw new Error("cluster bus is closed");
          joined.add(topic);
          let set = members.get(topic);
          if (set === undefined) {
            set = new Set();
            members.set(topic, set);
          }
          set.add(handler);
        },
        leave(topic) {
          joined.delete(topic);
          const set = members.get(topic);
          set?.delete(handler);
          if (set?.size === 0) members.delete(topic);
        },
        async close() {
          closed = true;
          for (const topic of [...joined]) bus.leave(topic);
        },
      };
      handlers.set(bus, handler);
      return bus;
    },

    cut(bus) {
      const handler = handlers.get(bus);
      if (handler === undefined) throw new Error("not a bus of this hub");
      cutOff.add(handler);
      return () => {
        cutOff.delete(handler);
        handler.onResync();
      };
    },
  };
}
