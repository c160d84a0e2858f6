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
   * Calls `listener.onEvent` with every event of `topic` published from now
   * on, until `unlisten` (an object, not a function: a subscriber that is a
   * class instance listens without a closure of its own).
   *
   * Returns a promise when events published by other server instances reach
   * the listener only once it resolves (a bus that joins the topic at a
   * broker first); a listener reads the store after that, not before, so
   * nothing falls between its read and its first event. Undefined when the
   * listener hears everything at once (the in-process bus).
   */
  listen(topic: string, listener: BusListener<E>): Promise<void> | undefined;
  /** Stops calling `listener` (no-op when it does not listen to `topic`). */
  unlisten(topic: string, listener: BusListener<E>): void;
  /** Number of listeners, for one topic or in all. For tests and metrics. */
  subscriberCount(topic?: string): number;
}

export interface BusListener<E> {
  onEvent(event: E): void;
  /**
   * Events may have been lost: the connection to the other instances broke
   * and is back. The listener re-reads from the store what it may have
   * missed (messages carry seqs; presence and typing are ephemeral).
   */
  onResync?(): void;
}

export function createEventBus<E>(): EventBus<E> {
  const topics = new Map<string, Set<BusListener<E>>>();
  let total = 0;

  return {
    publish(topic, event) {
      const set = topics.get(topic);
      if (set === undefined) return;
      for (const listener of set) listener.onEvent(event);
    },

    listen(topic, listener) {
      let set = topics.get(topic);
      if (set === undefined) {
        set = new Set();
        topics.set(topic, set);
      }
      if (set.has(listener)) return undefined;
      set.add(listener);
      total++;
      return undefined;
    },

    unlisten(topic, listener) {
      const set = topics.get(topic);
      if (set?.delete(listener)) {
        total--;
        if (set.size === 0) topics.delete(topic);
      }
    },

    subscriberCount(topic) {
      return topic === undefined ? total : (topics.get(topic)?.size ?? 0);
    },
  };
}
