import type { Event } from "../gen/chat/v1/chat_pb.ts";
import type { EventSink } from "./event-sink.ts";

/** Events queued before replay waits for the consumer (one replay page and some). */
const replayMark = 128;

/**
 * A feed read as an async iterable, for consumers that pull (Connect
 * handlers, the Chat bidi stream, tests): the sink queues at most
 * `maxQueue` events; a consumer that falls further behind is cut off. What
 * was queued before the feed ended is delivered first, then its error.
 *
 * `start` runs the feed with the sink and a signal that aborts when the
 * consumer stops iterating.
 */
export function feedIterable(
  maxQueue: number,
  signal: AbortSignal,
  start: (sink: EventSink, signal: AbortSignal) => Promise<never>,
): AsyncIterable<Event> {
  return {
    async *[Symbol.asyncIterator]() {
      // Below the cut-off, or replay would be cut off instead of waiting.
      const replayLowWater = Math.max(1, Math.min(replayMark, Math.floor(maxQueue / 2)));
      const queue: Event[] = [];
      let head = 0;
      let wake: (() => void) | undefined;
      let waiters: (() => void)[] = [];
      let failure: { reason: unknown } | undefined;
      const stop = new AbortController();
      const onAbort = () => stop.abort(signal.reason);
      if (signal.aborted) stop.abort(signal.reason);
      else signal.addEventListener("abort", onAbort, { once: true });

      const size = () => queue.length - head;
      const release = () => {
        const ws = waiters;
        waiters = [];
        for (const w of ws) w();
      };
      const sink: EventSink = {
        write(e) {
          if (size() >= maxQueue) return false;
          queue.push(e);
          wake?.();
          return true;
        },
        ready() {
          if (size() < replayLowWater || stop.signal.aborted) return undefined;
          return new Promise<void>((resolve) => waiters.push(resolve));
        },
      };
      start(sink, stop.signal).catch((reason: unknown) => {
        failure = { reason };
        release();
        wake?.();
      });
      try {
        for (;;) {
          while (size() > 0) {
            const e = queue[head] as Event;
            queue[head++] = undefined as unknown as Event;
            if (head > 1024 && head * 2 > queue.length) {
              queue.splice(0, head);
              head = 0;
            }
            if (waiters.length > 0 && size() < replayLowWater) release();
            yield e;
          }
          if (failure !== undefined) throw failure.reason;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        signal.removeEventListener("abort", onAbort);
        stop.abort();
        release();
      }
    },
  };
}
