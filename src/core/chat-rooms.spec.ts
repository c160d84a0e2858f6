import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Event } from "../gen/chat/v1/chat_pb.ts";
import { type ChatRooms, createChatRooms, type ReplayFrom } from "./chat-rooms.ts";
import { FellBehindError, SeqAheadError } from "./errors.ts";
import { createEventBus } from "./event-bus.ts";
import { createMemoryStore } from "./memory-store.ts";

function setup(maxQueue?: number): ChatRooms {
  return createChatRooms({
    store: createMemoryStore(),
    bus: createEventBus<Event>(),
    replayPageSize: 3,
    ...(maxQueue === undefined ? {} : { maxQueue }),
  });
}
const send = (rooms: ChatRooms, room: string, text: string) =>
  rooms.send({ room, sender: "ann", text, clientId: "" });

/** Collects events until `count` messages were seen; returns texts and whether ready came. */
async function collect(
  rooms: ChatRooms,
  room: string,
  from: ReplayFrom,
  count: number,
  during?: () => Promise<void>,
): Promise<{ texts: string[]; seqs: bigint[]; ready: bigint | undefined }> {
  const ac = new AbortController();
  const texts: string[] = [];
  const seqs: bigint[] = [];
  let ready: bigint | undefined;
  let started = false;
  for await (const e of rooms.subscribe(room, from, ac.signal)) {
    if (!started && during) {
      started = true;
      void during();
    }
    if (e.kind.case === "ready") ready = e.kind.value.headSeq;
    if (e.kind.case === "message") {
      texts.push(e.kind.value.text);
      seqs.push(e.kind.value.seq);
    }
    if (texts.length >= count && ready !== undefined) break;
  }
  ac.abort();
  return { texts, seqs, ready };
}

describe("chat rooms", () => {
  it("replays after a seq, marks ready, then goes live", async () => {
    const rooms = setup();
    for (let i = 1; i <= 7; i++) await send(rooms, "r", `m${i}`);
    const got = collect(rooms, "r", { case: "afterSeq", value: 2n }, 6);
    await new Promise((r) => setImmediate(r));
    await send(rooms, "r", "live");
    const { texts, ready } = await got;
    assert.deepEqual(texts, ["m3", "m4", "m5", "m6", "m7", "live"]);
    assert.equal(ready, 7n);
  });

  it("replays the last N", async () => {
    const rooms = setup();
    for (let i = 1; i <= 5; i++) await send(rooms, "r", `m${i}`);
    const { texts } = await collect(rooms, "r", { case: "last", value: 2 }, 2);
    assert.deepEqual(texts, ["m4", "m5"]);
  });

  it("with no start replays nothing and delivers only new messages", async () => {
    const rooms = setup();
    await send(rooms, "r", "old");
    const got = collect(rooms, "r", { case: undefined }, 1);
    await new Promise((r) => setImmediate(r));
    await send(rooms, "r", "new");
    assert.deepEqual((await got).texts, ["new"]);
  });

  it("has no gap and no duplicate when messages arrive during the replay", async () => {
    const rooms = setup();
    for (let i = 1; i <= 10; i++) await send(rooms, "r", `m${i}`);
    const { seqs } = await collect(rooms, "r", { case: "afterSeq", value: 0n }, 40, async () => {
      for (let i = 11; i <= 40; i++) await send(rooms, "r", `m${i}`);
    });
    assert.deepEqual(
      seqs,
      Array.from({ length: 40 }, (_, i) => BigInt(i + 1)),
    );
  });

  it("refuses a position ahead of the room", async () => {
    const rooms = setup();
    await send(rooms, "r", "one");
    const it = rooms.subscribe("r", { case: "afterSeq", value: 5n }, new AbortController().signal);
    await assert.rejects(it[Symbol.asyncIterator]().next(), SeqAheadError);
    assert.equal(rooms.subscriberCount(), 0);
  });

  it("cuts off a slow subscriber with the position to resume from", async () => {
    const rooms = setup(4);
    const ac = new AbortController();
    const it = rooms
      .subscribe("r", { case: "afterSeq", value: 0n }, ac.signal)
      [Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.kind.case, "ready");
    await send(rooms, "r", "m1");
    assert.equal((await it.next()).value?.kind.value?.seq, 1n);
    for (let i = 2; i <= 10; i++) await send(rooms, "r", `m${i}`);
    const seen: bigint[] = [];
    const err = await (async () => {
      try {
        for (;;) {
          const r = await it.next();
          if (r.value?.kind.case === "message") seen.push(r.value.kind.value.seq);
        }
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof FellBehindError);
    assert.equal(err.lastSeq, seen.at(-1));
    assert.equal(rooms.subscriberCount(), 0);
  });

  it("leaves no listener behind when the subscriber goes away", async () => {
    const rooms = setup();
    const ac = new AbortController();
    const it = rooms.subscribe("r", { case: undefined }, ac.signal)[Symbol.asyncIterator]();
    await it.next(); // ready
    assert.equal(rooms.subscriberCount("r"), 1);
    const pending = it.next();
    ac.abort(new Error("gone"));
    await assert.rejects(pending, /gone/);
    assert.equal(rooms.subscriberCount(), 0);
  });
});
