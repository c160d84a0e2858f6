import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MessageStore, NewMessage, RetentionPolicy } from "./message-store.ts";

/** What a contract run may ask of a store factory. */
export interface StoreFactoryOptions {
  retention?: Partial<RetentionPolicy>;
  /** Clock in ms, for age retention. */
  now?: () => number;
}

/**
 * The contract every MessageStore implementation must pass. Each
 * implementation's spec calls this with a factory for fresh, empty stores.
 */
export function messageStoreContract(
  name: string,
  make: (options?: StoreFactoryOptions) => Promise<MessageStore>,
): void {
  const msg = (room: string, text: string, clientId = ""): NewMessage => ({
    room,
    sender: "ann",
    text,
    clientId,
  });
  const seqsOf = (messages: { seq: bigint }[]) => messages.map((m) => m.seq);

  describe(`MessageStore contract: ${name}`, () => {
    it("assigns seq 1, 2, 3 per room, independently", async () => {
      const store = await make();
      assert.deepEqual(await store.bounds("a"), { firstSeq: 1n, headSeq: 0n });
      assert.equal((await store.append(msg("a", "1"))).message.seq, 1n);
      assert.equal((await store.append(msg("b", "1"))).message.seq, 1n);
      assert.equal((await store.append(msg("a", "2"))).message.seq, 2n);
      assert.deepEqual(await store.bounds("a"), { firstSeq: 1n, headSeq: 2n });
      assert.deepEqual(await store.bounds("b"), { firstSeq: 1n, headSeq: 1n });
      await store.close();
    });

    it("has a non-empty epoch", async () => {
      const store = await make();
      assert.match(store.epoch, /^\S{8,64}$/);
      await store.close();
    });

    it("stamps the server time and keeps every field", async () => {
      const store = await make();
      const before = Date.now();
      const { message: m } = await store.append({
        room: "r",
        sender: "bob",
        text: "hé 👋 \u0000 '\"; DROP TABLE messages; --",
        clientId: "c-1",
      });
      const [read] = await store.readAfter("r", 0n, 10);
      assert.ok(read);
      assert.equal(read.sender, "bob");
      assert.equal(read.text, "hé 👋 \u0000 '\"; DROP TABLE messages; --");
      assert.equal(read.clientId, "c-1");
      assert.equal(read.room, "r");
      assert.deepEqual(read.sentAt, m.sentAt);
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
        seqsOf(await store.readBefore("r", before, limit));
      assert.deepEqual(await seqs(0n, 2), [4n, 5n]);
      assert.deepEqual(await seqs(0n, 10), [1n, 2n, 3n, 4n, 5n]);
      assert.deepEqual(await seqs(4n, 2), [2n, 3n]);
      assert.deepEqual(await seqs(1n, 2), []);
      assert.deepEqual(await store.readBefore("nowhere", 0n, 10), []);
      await store.close();
    });

    it("keeps seqs gap-free and resolves appends of a room in seq order", async () => {
      const store = await make();
      const resolved: bigint[] = [];
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          store.append(msg("r", `m${i}`)).then((r) => resolved.push(r.message.seq)),
        ),
      );
      assert.deepEqual(
        resolved,
        Array.from({ length: 50 }, (_, i) => BigInt(i + 1)),
      );
      await store.close();
    });

    it("is idempotent per room and client id, even within one batch", async () => {
      const store = await make();
      const first = await store.append(msg("r", "hello", "id-1"));
      assert.equal(first.duplicate, false);
      const [again, concurrent] = await Promise.all([
        store.append(msg("r", "hello (retry)", "id-1")),
        store.append(msg("r", "other", "id-2")),
      ]);
      assert.equal(again.duplicate, true);
      assert.equal(again.message.seq, first.message.seq);
      assert.equal(again.message.text, "hello", "the original is returned");
      assert.deepEqual(again.message.sentAt, first.message.sentAt);
      assert.equal(concurrent.duplicate, false);
      const [x, y] = await Promise.all([
        store.append(msg("r", "same batch", "id-3")),
        store.append(msg("r", "same batch", "id-3")),
      ]);
      assert.equal(x.message.seq, y.message.seq);
      assert.deepEqual([x.duplicate, y.duplicate], [false, true]);
      // Another room, or no client id, never counts as a retry.
      assert.equal((await store.append(msg("other", "hello", "id-1"))).duplicate, false);
      assert.equal((await store.append(msg("r", "a"))).duplicate, false);
      assert.equal((await store.append(msg("r", "a"))).duplicate, false);
      assert.deepEqual(seqsOf(await store.readAfter("r", 0n, 100)), [1n, 2n, 3n, 4n, 5n]);
      await store.close();
    });

    it("scopes client ids by sender: another sender's id is neither seen nor taken", async () => {
      const store = await make();
      const mine = await store.append({ room: "r", sender: "ann", text: "mine", clientId: "id" });
      const theirs = await store.append({
        room: "r",
        sender: "bob",
        text: "theirs",
        clientId: "id",
      });
      assert.equal(theirs.duplicate, false, "bob's id is his own");
      assert.equal(theirs.message.text, "theirs");
      assert.notEqual(theirs.message.seq, mine.message.seq);
      const retry = await store.append({ room: "r", sender: "ann", text: "again", clientId: "id" });
      assert.deepEqual(
        [retry.duplicate, retry.message.seq, retry.message.text],
        [true, 1n, "mine"],
      );
      const bobRetry = await store.append({ room: "r", sender: "bob", text: "x", clientId: "id" });
      assert.deepEqual([bobRetry.duplicate, bobRetry.message.seq], [true, 2n]);
      await store.close();
    });

    it("retains the newest messages per room by count, seqs never reused", async () => {
      const store = await make({ retention: { maxMessagesPerRoom: 16 } });
      for (let i = 1; i <= 100; i++) await store.append(msg("r", `m${i}`));
      await store.append(msg("small", "one"));
      const all = await store.readAfter("r", 0n, 1000);
      assert.equal(all.length, 16);
      assert.deepEqual(
        seqsOf(all),
        Array.from({ length: 16 }, (_, i) => BigInt(85 + i)),
      );
      assert.deepEqual(await store.bounds("r"), { firstSeq: 85n, headSeq: 100n });
      assert.deepEqual(seqsOf(await store.readBefore("r", 0n, 3)), [98n, 99n, 100n]);
      assert.deepEqual(seqsOf(await store.readBefore("r", 86n, 10)), [85n]);
      assert.deepEqual(await store.bounds("small"), { firstSeq: 1n, headSeq: 1n });
      assert.equal((await store.append(msg("r", "next"))).message.seq, 101n);
      await store.close();
    });

    it("drops messages older than the age limit, and forgets their client ids", async () => {
      let clock = Date.now();
      const store = await make({ retention: { maxAgeMs: 60_000 }, now: () => clock });
      await store.append(msg("r", "old", "id-old"));
      clock += 30_000;
      await store.append(msg("r", "newer"));
      clock += 40_000; // "old" is now 70 s old, "newer" 40 s.
      assert.deepEqual(
        (await store.readAfter("r", 0n, 10)).map((m) => m.text),
        ["newer"],
      );
      assert.deepEqual(await store.bounds("r"), { firstSeq: 2n, headSeq: 2n });
      clock += 30_000;
      assert.deepEqual(await store.readBefore("r", 0n, 10), []);
      assert.deepEqual(await store.bounds("r"), { firstSeq: 3n, headSeq: 2n });
      const again = await store.append(msg("r", "old again", "id-old"));
      assert.deepEqual([again.duplicate, again.message.seq], [false, 3n]);
      await store.close();
    });
  });
}
