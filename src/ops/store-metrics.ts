import type { MessageStore } from "../core/message-store.ts";
import type { ChatMetrics } from "./metrics.ts";

/**
 * The same store, with each operation's latency observed by name (`append`,
 * `readAfter`, `readBefore`, `bounds`; failures too) and each stored message
 * counted as sent. Counting at the store counts every API alike, and a
 * retried client id (`duplicate`) once only.
 */
export function withStoreMetrics(store: MessageStore, metrics: ChatMetrics): MessageStore {
  async function timed<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await run();
    } finally {
      metrics.storeOperation(operation, (performance.now() - start) / 1000);
    }
  }
  return {
    get epoch() {
      return store.epoch;
    },
    publishesAppends: store.publishesAppends,
    async append(message) {
      const result = await timed("append", () => store.append(message));
      if (!result.duplicate) metrics.sent();
      return result;
    },
    readAfter: (room, afterSeq, limit) =>
      timed("readAfter", () => store.readAfter(room, afterSeq, limit)),
    readBefore: (room, beforeSeq, limit) =>
      timed("readBefore", () => store.readBefore(room, beforeSeq, limit)),
    bounds: (room) => timed("bounds", () => store.bounds(room)),
    close: () => store.close(),
  };
}
