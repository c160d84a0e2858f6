import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MessageStore } from "./message-store.ts";

/**
 * The contract every MessageStore implementation must pass. Each
 * implementation's spec calls this with a factory for fresh, empty stores.
 */
export function messageStoreContract(name: string, make: () => Promise<MessageStore>): void {
  const msg = (room: string, text: string) => ({ room, sender: "ann", text, clientId: "" });

  describe(`MessageStore contract: ${name}`, () => {
    it("assigns seq 1, 2, 3 per room, independently", async () => {
      const store = await make();
      assert.equal(await store.headSeq("a"), 0n);
      assert.equal((await store.append(msg("a", "1"))).seq, 1n);
      assert.equal((await store.append(msg("b", "1"))).seq, 1n);
      assert.equal((await store.append(msg("a", "2"))).seq, 2n);
      assert.equal(await store.headSeq("a"), 2n);
      assert.equal(await store.headSeq("b"), 1n);
      await store.close();
    });

    it("stamps the server time and keeps every field", async () => {
      const store = await make();
      const before = Date.now();
      const m = await store.append({ room: "r", sender: "bob", text: "hé 👋", clientId: "c-1" });
      const [read] = await store.readAfter("r", 0n, 10);
      assert.ok(read);
      assert.equal(read.sender, "bob");
      assert.equal(read.text, "hé 👋");
      assert.equal(read.clientId, "c-1");
      assert.equal(read.room, "r");
      const ms = Number(m.sentAt?.seconds) * 1000 + (m.sentAt?.nanos ?? 0) / 1e6;
      assert.ok(ms >= before - 1000 && ms <= Date.now() + 1000, "sentAt is now");
      await store.close();
    });

    it("reads after a position, oldest first, bounded by limit", async () => {
      const store = await make();
      for (let i = 1; i <= 5; i++) await store.append(msg("r", `m${i}`));
      const texts = async (after: bigint, limit: number) =>
        (await store.readAfter("r", after, limit)).map((m) => m.text);
      assert.deepEqual(await texts(0n, 10), ["m1", "m2", "m3", "m4", "m5"]);
      assert.deepEqual(await texts(2n, 2), ["m3", "m4"]);
      assert.deepEqual(await texts(5n, 10), []);
      assert.deepEqual(await texts(9n, 10), []);
      assert.deepEqual(await store.readAfter("nowhere", 0n, 10), []);
      await store.close();
    });

    it("reads before a position: the newest `limit`, oldest first", async () => {
      const store = await make();
      for (let i = 1; i <= 5; i++) await store.append(msg("r", `m${i}`));
      const seqs = async (before: bigint, limit: number) =>
        (await store.readBefore("r", before, limit)).map((m) => m.seq);
      assert.deepEqual(await seqs(0n, 2), [4n, 5n]);
      assert.deepEqual(await seqs(0n, 10), [1n, 2n, 3n, 4n, 5n]);
      assert.deepEqual(await seqs(4n, 2), [2n, 3n]);
      assert.deepEqual(await seqs(1n, 2), []);
      assert.deepEqual(await store.readBefore("nowhere", 0n, 10), []);
      await store.close();
    });

    it("keeps seqs gap-free under concurrent appends", async () => {
      const store = await make();
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.append(msg("r", `m${i}`))),
      );
      const seqs = results.map((m) => m.seq).sort((a, b) => (a < b ? -1 : 1));
      assert.deepEqual(
        seqs,
        Array.from({ length: 50 }, (_, i) => BigInt(i + 1)),
      );
      await store.close();
    });
  });
}
