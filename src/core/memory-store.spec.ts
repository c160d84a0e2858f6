import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createMemoryStore } from "./memory-store.ts";
import { messageStoreContract } from "./message-store.case.ts";

messageStoreContract("memory", async () => createMemoryStore());

describe("memory store retention", () => {
  it("keeps at most about maxMessagesPerRoom, dropping the oldest, seqs intact", async () => {
    const store = createMemoryStore({ maxMessagesPerRoom: 16 });
    for (let i = 1; i <= 100; i++) {
      await store.append({ room: "r", sender: "s", text: `m${i}`, clientId: "" });
    }
    const all = await store.readAfter("r", 0n, 1000);
    assert.ok(all.length >= 16 && all.length <= 17, `retained ${all.length}`);
    assert.equal(all.at(-1)?.seq, 100n);
    all.forEach((m, i) => {
      assert.equal(m.seq, (all[0]?.seq ?? 0n) + BigInt(i));
    });
    assert.equal(await store.headSeq("r"), 100n);
    assert.deepEqual(
      (await store.readBefore("r", 0n, 3)).map((m) => m.seq),
      [98n, 99n, 100n],
    );
  });
});
