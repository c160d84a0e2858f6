import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { messageStoreContract } from "../core/message-store.case.ts";
import { createMemoryStore } from "../stores/memory-store.ts";
import { createMetrics } from "./metrics.ts";
import { withStoreMetrics } from "./store-metrics.ts";

// The decorated store is still a store: the same contract, appends in order.
messageStoreContract("memory with metrics", async (options) =>
  withStoreMetrics(createMemoryStore(options), createMetrics()),
);

/** The value of the sample line `series` (`name{label="value"}`) in the app's registry. */
async function sample(metrics: ReturnType<typeof createMetrics>, series: string): Promise<number> {
  const line = (await metrics.registry.metrics())
    .split("\n")
    .find((l) => l.startsWith(`${series} `));
  assert.ok(line, `no sample ${series}`);
  return Number(line.slice(series.length + 1));
}

describe("withStoreMetrics", () => {
  it("observes each operation by name and counts new messages as sent, retries once", async () => {
    const metrics = createMetrics();
    const store = withStoreMetrics(createMemoryStore(), metrics);
    const message = { room: "r", sender: "a", text: "hi", clientId: "c1" };
    await store.append(message);
    assert.equal((await store.append(message)).duplicate, true);
    await store.append({ ...message, clientId: "" });
    await store.readAfter("r", 0n, 10);
    await store.readBefore("r", 0n, 10);
    await store.bounds("r");
    const count = (operation: string) =>
      sample(metrics, `chat_store_operation_duration_seconds_count{operation="${operation}"}`);
    assert.equal(await count("append"), 3);
    assert.equal(await count("readAfter"), 1);
    assert.equal(await count("readBefore"), 1);
    assert.equal(await count("bounds"), 1);
    assert.equal(await sample(metrics, "chat_messages_sent_total"), 2);
    await store.close();
  });

  it("observes failed operations too, and passes the error on", async () => {
    const metrics = createMetrics();
    const failing = createMemoryStore();
    const store = withStoreMetrics(
      { ...failing, epoch: failing.epoch, bounds: () => Promise.reject(new Error("disk gone")) },
      metrics,
    );
    await assert.rejects(store.bounds("r"), /disk gone/);
    assert.equal(
      await sample(metrics, 'chat_store_operation_duration_seconds_count{operation="bounds"}'),
      1,
    );
  });

  it("reads the epoch of the store it wraps", () => {
    const inner = createMemoryStore();
    assert.equal(withStoreMetrics(inner, createMetrics()).epoch, inner.epoch);
  });
});
