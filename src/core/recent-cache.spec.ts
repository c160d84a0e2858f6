import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMemoryStore } from "../stores/memory-store.ts";
import { messageStoreContract } from "./message-store.case.ts";
import type { MessageStore } from "./message-store.ts";
import { withRecentCache } from "./recent-cache.ts";

// Tiny capacities, so that the contract's reads cross from the cached run
// into the store and rooms are evicted.
messageStoreContract("memory behind a recent cache", async (options) =>
  withRecentCache(createMemoryStore(options), { messagesPerRoom: 3, totalMessages: 5 }),
);

/** Counts reads that reach the wrapped store. */
function counted(store: MessageStore) {
  const reads = { after: 0, before: 0 };
  const wrapped: MessageStore = {
    ...store,
    epoch: store.epoch,
    append: (m) => store.append(m),
    readAfter: (...a) => {
      reads.after++;
      return store.readAfter(...a);
    },
    readBefore: (...a) => {
      reads.before++;
      return store.readBefore(...a);
    },
    bounds: (room) => store.bounds(room),
    close: () => store.close(),
  };
  return { wrapped, reads };
}

const msg = (text: string) => ({ room: "r", sender: "a", text, clientId: "" });

describe("recent cache", () => {
  it("serves recent replays from one shared run, without reading the store", async () => {
    const inner = createMemoryStore();
    const { wrapped, reads } = counted(inner);
    const store = withRecentCache(wrapped, { messagesPerRoom: 8 });
    for (let i = 1; i <= 6; i++) await store.append(msg(String(i)));
    const a = await store.readAfter("r", 2n, 10);
    const b = await store.readAfter("r", 2n, 10);
    assert.deepEqual(
      a.map((m) => m.text),
      ["3", "4", "5", "6"],
    );
    assert.equal(a[0], b[0], "the same object for every reader");
    assert.deepEqual(
      (await store.readBefore("r", 0n, 2)).map((m) => m.text),
      ["5", "6"],
    );
    assert.deepEqual(reads, { after: 0, before: 0 });
  });

  it("reads older history from the store", async () => {
    const { wrapped, reads } = counted(createMemoryStore());
    const store = withRecentCache(wrapped, { messagesPerRoom: 4 });
    for (let i = 1; i <= 10; i++) await store.append(msg(String(i)));
    assert.deepEqual(
      (await store.readAfter("r", 0n, 3)).map((m) => m.text),
      ["1", "2", "3"],
    );
    assert.deepEqual(
      (await store.readBefore("r", 0n, 10)).map((m) => m.text),
      ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"],
    );
    assert.deepEqual(reads, { after: 1, before: 1 });
  });

  it("ignores its run when the store has appends it did not see", async () => {
    const inner = createMemoryStore();
    const store = withRecentCache(inner);
    await store.append(msg("1"));
    await inner.append(msg("2"));
    assert.deepEqual(
      (await store.readAfter("r", 0n, 10)).map((m) => m.text),
      ["1", "2"],
    );
  });

  it("never returns what the store's retention removed", async () => {
    const store = withRecentCache(createMemoryStore({ retention: { maxMessagesPerRoom: 2 } }));
    for (let i = 1; i <= 5; i++) await store.append(msg(String(i)));
    assert.deepEqual(
      (await store.readAfter("r", 0n, 10)).map((m) => m.text),
      ["4", "5"],
    );
    assert.deepEqual(
      (await store.readBefore("r", 0n, 10)).map((m) => m.text),
      ["4", "5"],
    );
  });
});
