import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { type Event, EventSchema } from "../gen/chat/v1/chat_pb.ts";
import { createMemoryStore } from "../stores/memory-store.ts";
import {
  type ChatRooms,
  createChatRooms,
  type ReplayFrom,
  type SubscribeParams,
} from "./chat-rooms.ts";
import { FellBehindError, SeqAheadError } from "./errors.ts";
import { createEventBus, type EventBus } from "./event-bus.ts";
import type { MessageStore } from "./message-store.ts";

function setup(
  maxQueue?: number,
  options: { store?: MessageStore; bus?: EventBus<Event>; heartbeatMs?: number } = {},
): ChatRooms {
  return createChatRooms({
    store: options.store ?? createMemoryStore(),
    bus: options.bus ?? createEventBus<Event>(),
    replayPageSize: 3,
    heartbeatMs: options.heartbeatMs ?? 0,
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
  for await (const e of rooms.subscribe({ room, from, signal: ac.signal })) {
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
    const it = rooms.subscribe({
      room: "r",
      from: { case: "afterSeq", value: 5n },
      signal: new AbortController().signal,
    });
    await assert.rejects(it[Symbol.asyncIterator]().next(), SeqAheadError);
    assert.equal(rooms.subscriberCount(), 0);
  });

  it("cuts off a slow subscriber with the position to resume from", async () => {
    const rooms = setup(4);
    const ac = new AbortController();
    const it = rooms
      .subscribe({ room: "r", from: { case: "afterSeq", value: 0n }, signal: ac.signal })
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

  it("replays a history longer than its queue at the reader's pace, without cutting it off", async () => {
    const rooms = setup(4);
    for (let i = 1; i <= 40; i++) await send(rooms, "r", `m${i}`);
    const ac = new AbortController();
    const from = { case: "afterSeq", value: 0n } as const;
    const it = rooms.subscribe({ room: "r", from, signal: ac.signal })[Symbol.asyncIterator]();
    const seqs: bigint[] = [];
    // A reader that takes one event, then pauses while the replay goes on.
    const first = await it.next();
    if (first.value?.kind.case === "message") seqs.push(first.value.kind.value.seq);
    await new Promise((resolve) => setTimeout(resolve, 20));
    while (seqs.length < 40) {
      const r = await it.next();
      if (r.value?.kind.case === "message") seqs.push(r.value.kind.value.seq);
    }
    ac.abort();
    assert.deepEqual(
      seqs,
      Array.from({ length: 40 }, (_, i) => BigInt(i + 1)),
    );
  });

  it("leaves no listener behind when the subscriber goes away", async () => {
    const rooms = setup();
    const ac = new AbortController();
    const it = rooms
      .subscribe({ room: "r", from: { case: undefined }, signal: ac.signal })
      [Symbol.asyncIterator]();
    await it.next(); // ready
    assert.equal(rooms.subscriberCount("r"), 1);
    const pending = it.next();
    ac.abort(new Error("gone"));
    await assert.rejects(pending, /gone/);
    assert.equal(rooms.subscriberCount(), 0);
  });

  it("announces messages removed by retention instead of skipping them silently", async () => {
    const rooms = setup(undefined, {
      store: createMemoryStore({ retention: { maxMessagesPerRoom: 3 } }),
    });
    for (let i = 1; i <= 10; i++) await send(rooms, "r", `m${i}`);
    const events = await take(rooms, { room: "r", from: { case: "afterSeq", value: 2n } }, 5);
    assert.deepEqual(events.slice(0, 5), [
      "gap 2..8",
      "message 8",
      "message 9",
      "message 10",
      "ready 10",
    ]);
  });

  it("announces a gap even when nothing after the position is retained", async () => {
    let clock = 0;
    const rooms = setup(undefined, {
      store: createMemoryStore({ retention: { maxAgeMs: 1000 }, now: () => clock }),
    });
    for (let i = 1; i <= 4; i++) await send(rooms, "r", `m${i}`);
    clock = 5000;
    const events = await take(rooms, { room: "r", from: { case: "afterSeq", value: 1n } }, 2);
    assert.deepEqual(events, ["gap 1..5", "ready 4"]);
  });

  it("tells a client resuming from another history to start over", async () => {
    const store = createMemoryStore();
    const rooms = setup(undefined, { store });
    for (let i = 1; i <= 3; i++) await send(rooms, "r", `m${i}`);
    const from = { case: "afterSeq", value: 7n } as const;
    const events = await take(rooms, { room: "r", from, epoch: "an-old-epoch" }, 5);
    assert.deepEqual(events, [
      `reset ${store.epoch}`,
      "message 1",
      "message 2",
      "message 3",
      "ready 3",
    ]);
    // The same position with the current epoch is simply ahead of the room.
    await assert.rejects(take(rooms, { room: "r", from, epoch: store.epoch }, 1), SeqAheadError);
  });

  it("fills a hole in the live sequence from the store", async () => {
    const bus = createEventBus<Event>();
    const store = createMemoryStore();
    const rooms = setup(undefined, { store, bus });
    const got = take(rooms, { room: "r", from: { case: undefined } }, 4);
    await new Promise((r) => setImmediate(r));
    // Stored but published out of order, as a bus spanning servers might.
    const one = await store.append({ room: "r", sender: "a", text: "1", clientId: "" });
    const two = await store.append({ room: "r", sender: "a", text: "2", clientId: "" });
    bus.publish("r", create(EventSchema, { kind: { case: "message", value: two.message } }));
    bus.publish("r", create(EventSchema, { kind: { case: "message", value: one.message } }));
    await send(rooms, "r", "3");
    assert.deepEqual(await got, ["ready 0", "message 1", "message 2", "message 3"]);
  });

  it("publishes a retried send once and returns the original", async () => {
    const rooms = setup();
    const got = take(rooms, { room: "r", from: { case: undefined } }, 3);
    await new Promise((r) => setImmediate(r));
    const input = { room: "r", sender: "a", text: "once", clientId: "c1" };
    const [a, b] = [await rooms.send(input), await rooms.send(input)];
    assert.deepEqual([a.duplicate, b.duplicate, b.message.seq], [false, true, 1n]);
    await send(rooms, "r", "next");
    assert.deepEqual(await got, ["ready 0", "message 1", "message 2"]);
  });

  it("tracks presence: a snapshot in ready, then joins and leaves, once per name", async () => {
    const rooms = setup();
    const alice = new AbortController();
    const aliceEvents = take(rooms, { room: "r", from: { case: undefined }, name: "alice" }, 5, {
      signal: alice.signal,
    });
    await new Promise((r) => setImmediate(r));
    const bob1 = new AbortController();
    const bob2 = new AbortController();
    const bobFirst = rooms
      .subscribe({ room: "r", from: { case: undefined }, name: "bob", signal: bob1.signal })
      [Symbol.asyncIterator]();
    const ready: Event | undefined = (await bobFirst.next()).value;
    assert.equal(ready?.kind.case, "ready");
    assert.deepEqual(
      ready?.kind.case === "ready" ? ready.kind.value.members.map((m) => m.name) : [],
      ["alice"],
    );
    assert.deepEqual(
      (await rooms.members("r")).map((m) => m.name),
      ["alice", "bob"],
    );
    const bobSecond = rooms
      .subscribe({ room: "r", from: { case: undefined }, name: "bob", signal: bob2.signal })
      [Symbol.asyncIterator]();
    await bobSecond.next();
    rooms.setTyping("r", "bob", true);
    await bobFirst.return?.(undefined);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      (await rooms.members("r")).map((m) => m.name),
      ["alice", "bob"],
      "bob still has a stream open",
    );
    await bobSecond.return?.(undefined);
    assert.deepEqual(
      (await rooms.members("r")).map((m) => m.name),
      ["alice"],
    );
    assert.deepEqual(await aliceEvents, [
      "ready 0",
      "joined alice",
      "joined bob",
      "typing bob true",
      "left bob",
    ]);
    alice.abort();
    assert.deepEqual(await rooms.members("r"), []);
  });

  it("passes typing changes, but a repeated state at most once a second", async () => {
    const rooms = setup();
    const got = take(rooms, { room: "r", from: { case: undefined } }, 4);
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 50; i++) rooms.setTyping("r", "ann", true);
    rooms.setTyping("r", "bob", true);
    rooms.setTyping("r", "ann", false);
    assert.deepEqual(await got, [
      "ready 0",
      "typing ann true",
      "typing bob true",
      "typing ann false",
    ]);
  });

  it("sends heartbeats on a quiet live stream only", async () => {
    const rooms = setup(undefined, { heartbeatMs: 40 });
    const started = Date.now();
    const events = await take(rooms, { room: "r", from: { case: undefined } }, 3);
    assert.deepEqual(events, ["ready 0", "heartbeat", "heartbeat"]);
    assert.ok(Date.now() - started >= 70, "two intervals passed");
  });

  it("sends no heartbeat to a consumer that has none (the seed's ChatStream)", async () => {
    const rooms = setup(undefined, { heartbeatMs: 20 });
    const quiet = take(rooms, { room: "r", from: { case: undefined }, heartbeats: false }, 2);
    const withBeats = take(rooms, { room: "r", from: { case: undefined } }, 3);
    // Three heartbeat intervals on the other stream, then a message.
    assert.deepEqual(await withBeats, ["ready 0", "heartbeat", "heartbeat"]);
    await rooms.send({ room: "r", sender: "ann", text: "hi", clientId: "" });
    assert.deepEqual(await quiet, ["ready 0", "message 1"]);
  });
});

/** Describes the first `count` events of a subscription, one short string each. */
async function take(
  rooms: ChatRooms,
  params: Omit<SubscribeParams, "signal">,
  count: number,
  options: { signal?: AbortSignal } = {},
): Promise<string[]> {
  const ac = new AbortController();
  options.signal?.addEventListener("abort", () => ac.abort());
  const out: string[] = [];
  try {
    for await (const e of rooms.subscribe({ ...params, signal: ac.signal })) {
      const k = e.kind;
      if (k.case === "message") out.push(`message ${k.value.seq}`);
      else if (k.case === "ready") out.push(`ready ${k.value.headSeq}`);
      else if (k.case === "gap") out.push(`gap ${k.value.afterSeq}..${k.value.nextSeq}`);
      else if (k.case === "reset") out.push(`reset ${k.value.epoch}`);
      else if (k.case === "memberJoined") out.push(`joined ${k.value.member?.name}`);
      else if (k.case === "memberLeft") out.push(`left ${k.value.name}`);
      else if (k.case === "typing") out.push(`typing ${k.value.name} ${k.value.typing}`);
      else out.push(String(k.case));
      if (out.length >= count) break;
    }
  } catch (e) {
    if (!ac.signal.aborted) throw e;
  } finally {
    ac.abort();
  }
  return out;
}
