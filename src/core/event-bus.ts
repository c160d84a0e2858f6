/**
 * An in-process publish/subscribe bus keyed by topic (a chat room).
 *
 * Why not poll a history array like the seed did: a waiting subscriber here
 * is one function in a set and costs no CPU; `publish` calls exactly the
 * listeners of that topic, synchronously, and nobody else.
 *
 * The bus only fans out. Buffering, back-pressure, slow-consumer cut-off and
 * heartbeats belong to the consumer (see `room-feed.ts`): a listener is
 * called in the publisher's turn and must not block or throw.
 */
export interface EventBus<E> {
  /** Calls every current listener of `topic` with `event`, in order of listening. */
  publish(topic: string, event: E): void;
  /**
   * Calls `listener` with every event of `topic` published from now on,
   * until the returned function is called (idempotent).
   */
  listen(topic: string, listener: (event: E) => void): () => void;
  /** Number of listeners, for one topic or in all. For tests and metrics. */
  subscriberCount(topic?: string): number;
}

export function createEventBus<E>(): EventBus<E> {
  const topics = new Map<string, Set<(event: E) => void>>();
  let total = 0;

  return {
    publish(topic, event) {
      const set = topics.get(topic);
      if (set === undefined) return;
      for (const listener of set) listener(event);
    },

    listen(topic, listener) {
      let set = topics.get(topic);
      if (set === undefined) {
        set = new Set();
        topics.set(topic, set);
      }
      // A wrapper per call, so that the same function can listen twice and
      // each unlisten removes its own registration only.
      const entry = (event: E) => listener(event);
      set.add(entry);
      total++;
      return () => {
        const current = topics.get(topic);
        if (current?.delete(entry)) {
          total--;
          if (current.size === 0) topics.delete(topic);
        }
      };
    },

    subscriberCount(topic) {
      return topic === undefined ? total : (topics.get(topic)?.size ?? 0);
    },
  };
}
