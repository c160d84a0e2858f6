import { SubscriberOverflowError } from "./errors.ts";

/**
 * An in-process publish/subscribe bus keyed by topic (a chat room).
 *
 * Why not poll a history array like the seed did: a waiting subscriber here is
 * one pending promise and costs no CPU; `publish` wakes exactly the
 * subscribers of that topic and nobody else.
 *
 * Slow consumers: each subscription buffers at most `maxQueue` events. A
 * subscriber that falls further behind is cut off (its iterator throws
 * {@link SubscriberOverflowError}) instead of delaying the publisher or the
 * other subscribers, or growing memory without bound. The caller knows the
 * last position it delivered and can tell the client where to resume.
 */
export interface EventBus<E> {
  /** Delivers `event` to every current subscriber of `topic`. Never blocks. */
  publish(topic: string, event: E): void;
  /**
   * Starts buffering events of `topic` immediately (so nothing published
   * after this call is missed) and returns them as an async iterable. The
   * listener is removed when the iteration ends, when `signal` aborts (the
   * iterator then throws `signal.reason`), or on overflow.
   */
  subscribe(topic: string, options: SubscribeOptions<E>): Subscription<E>;
  /** Number of live subscriptions, for one topic or in all. For tests and metrics. */
  subscriberCount(topic?: string): number;
}

export interface SubscribeOptions<E> {
  /** Ends the subscription: client gone, deadline, or server shutdown. */
  signal: AbortSignal;
  /** Events buffered before the subscriber counts as too slow. Default 1024. */
  maxQueue?: number;
  /**
   * Liveness: when the subscriber was handed nothing for `intervalMs` and its
   * buffer is empty, it receives `event()`. One timer per subscription that
   * fires at most once per interval; busy streams never see a heartbeat.
   */
  heartbeat?: { intervalMs: number; event: () => E };
}

export interface Subscription<E> extends AsyncIterable<E> {
  /** Removes the listener now; a pending or later `next()` ends the iteration. */
  close(): void;
}

/** Default per-subscription buffer, see {@link SubscribeOptions.maxQueue}. */
export const defaultMaxQueue = 1024;

interface Listener<E> {
  push(event: E): void;
}

export function createEventBus<E>(): EventBus<E> {
  const topics = new Map<string, Set<Listener<E>>>();

  function remove(topic: string, listener: Listener<E>): void {
    const set = topics.get(topic);
    if (set?.delete(listener) && set.size === 0) topics.delete(topic);
  }

  return {
    publish(topic, event) {
      const set = topics.get(topic);
      if (set === undefined) return;
      for (const listener of set) listener.push(event);
    },

    subscribe(topic, { signal, maxQueue = defaultMaxQueue, heartbeat }) {
      const queue: E[] = [];
      let state: "open" | "closed" | "overflow" = "open";
      let wake: (() => void) | undefined;
      let lastHandedOut = Date.now();
      let timer: ReturnType<typeof setTimeout> | undefined;

      // Re-armed for exactly the time left until the stream has been quiet
      // for a whole interval, so a heartbeat follows the last event by
      // `intervalMs`, not by up to twice that.
      function armHeartbeat(delay: number): void {
        if (heartbeat === undefined || state !== "open") return;
        timer = setTimeout(() => {
          const quiet = Date.now() - lastHandedOut;
          if (quiet < heartbeat.intervalMs) {
            armHeartbeat(heartbeat.intervalMs - quiet);
            return;
          }
          if (queue.length === 0) {
            queue.push(heartbeat.event());
            lastHandedOut = Date.now();
            wake?.();
          }
          armHeartbeat(heartbeat.intervalMs);
        }, delay);
      }

      const listener: Listener<E> = {
        push(event) {
          if (queue.length >= maxQueue) {
            end("overflow");
            return;
          }
          queue.push(event);
          wake?.();
        },
      };
      function end(next: "closed" | "overflow"): void {
        if (state !== "open") return;
        state = next;
        clearTimeout(timer);
        remove(topic, listener);
        signal.removeEventListener("abort", onAbort);
        wake?.();
      }
      function onAbort(): void {
        end("closed");
      }

      if (signal.aborted) {
        state = "closed";
      } else {
        let set = topics.get(topic);
        if (set === undefined) {
          set = new Set();
          topics.set(topic, set);
        }
        set.add(listener);
        signal.addEventListener("abort", onAbort, { once: true });
        armHeartbeat(heartbeat?.intervalMs ?? 0);
      }

      async function* iterate(): AsyncGenerator<E> {
        try {
          for (;;) {
            // Deliver what is buffered first: events published before an
            // abort or overflow were accepted and stay in order.
            while (queue.length > 0) {
              lastHandedOut = Date.now();
              yield queue.shift() as E;
            }
            if (signal.aborted) throw signal.reason;
            if (state === "overflow") throw new SubscriberOverflowError("subscriber fell behind");
            if (state === "closed") return;
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
          }
        } finally {
          end("closed");
        }
      }

      return {
        close: () => end("closed"),
        [Symbol.asyncIterator]: iterate,
      };
    },

    subscriberCount(topic) {
      if (topic !== undefined) return topics.get(topic)?.size ?? 0;
      let n = 0;
      for (const set of topics.values()) n += set.size;
      return n;
    },
  };
}
