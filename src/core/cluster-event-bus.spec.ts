import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Event } from "../gen/chat/v1/chat_pb.ts";
import { createMemoryStore } from "../stores/memory-store.ts";
import { type ChatRooms, createChatRooms } from "./chat-rooms.ts";
import type { ClusterBus } from "./cluster-bus.ts";
import { createLocalClusterHub } from "./cluster-bus.ts";
import { createClusterEventBus } from "./cluster-event-bus.ts";
import { HistoryLostError } from "./errors.ts";
import type { MessageStore } from "./message-store.ts";

/** Two "instances": chat rooms each with its own bus, on one hub and one store. */
async function twoInstances(store: MessageStore = createMemoryStore()) {
  const hub = createLocalClusterHub();
  const buses: ClusterBus[] = [];
  const instance = async (): Promise<ChatRooms> => {
    const bus = await createClusterEventBus({
      connect: async (handler) => {
        const made = await hub.connect(handler);
        buses.push(made);
        return made;
      },
    });
    return createChatRooms({ store, bus, heartbeatMs: 0 });
  };
  return { hub, buses, a: await instance(), b: await instance() };
}

/** Reads a subscription in the background. */
function reader(rooms: ChatRooms, room: string, name = "") {
  const abort = new AbortController();
  const events: Event[] = [];
  let error: unknown;
  const done = (async () => {
    try {
      for await (const e of rooms.subscribe({
        room,
        name,
        from: { case: "afterSeq", value: 0n },
        signal: abort.signal,
      })) {
        events.push(e);
      }
    } catch (e) {
      error = e;
    }
  })();
  return {
    events,
    texts: () => events.flatMap((e) => (e.kind.case === "message" ? [e.kind.value.text] : [])),
    ready: () => events.some((e) => e.kind.case === "ready"),
    error: () => error,
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe("chat rooms on a cluster event bus", () => {
  it("delivers every instance's messages to every instance's subscribers, in seq order", async () => {
    const { a, b } = await twoInstances();
    const onA = reader(a, "r");
    const onB = reader(b, "r");
    await until(() => onA.ready() && onB.ready(), "ready");
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).send({ room: "r", sender: "s", text: `m${i}`, clientId: "" }),
      ),
    );
    await until(() => onA.texts().length === 20 && onB.texts().length === 20, "20 each");
    assert.deepEqual(onA.texts(), onB.texts());
    await onA.stop();
    await onB.stop();
  });

  it("carries typing and presence between instances", async () => {
    const { a, b } = await twoInstances();
    const onA = reader(a, "r", "ann");
    await until(onA.ready, "ready");
    const onB = reader(b, "r", "bob");
    await until(onB.ready, "ready");
    b.setTyping("r", "bob", true);
    await until(
      () => onA.events.some((e) => e.kind.case === "typing" && e.kind.value.name === "bob"),
      "bob typing on a",
    );
    assert.ok(
      onA.events.some((e) => e.kind.case === "memberJoined" && e.kind.value.member?.name === "bob"),
    );
    await onA.stop();
    await onB.stop();
  });

  it("re-reads from the store what the bus dropped while cut off, once resynced", async () => {
    const { hub, buses, a, b } = await twoInstances();
    const onA = reader(a, "r");
    await until(onA.ready, "ready");
    await b.send({ room: "r", sender: "s", text: "before", clientId: "" });
    await until(() => onA.texts().length === 1, "the first message");
    const restore = hub.cut(buses[0] as ClusterBus);
    for (const text of ["lost1", "lost2", "lost3"]) {
      await b.send({ room: "r", sender: "s", text, clientId: "" });
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(onA.texts(), ["before"], "the bus dropped them");
    restore();
    await until(() => onA.texts().length === 4, "the dropped messages, from the store");
    assert.deepEqual(onA.texts(), ["before", "lost1", "lost2", "lost3"]);
    await onA.stop();
  });

  it("ends a live feed whose store came back with another history", async () => {
    const memory = createMemoryStore();
    let epoch = memory.epoch;
    const store: MessageStore = {
      get epoch() {
        return epoch;
      },
      append: (m) => memory.append(m),
      readAfter: (room, after, limit) => memory.readAfter(room, after, limit),
      readBefore: (room, before, limit) => memory.readBefore(room, before, limit),
      bounds: (room) => memory.bounds(room),
      close: () => memory.close(),
    };
    const { hub, buses, a } = await twoInstances(store);
    const onA = reader(a, "r");
    await until(onA.ready, "ready");
    const restore = hub.cut(buses[0] as ClusterBus);
    epoch = "another";
    restore();
    await until(() => onA.error() !== undefined, "the feed to end");
    assert.ok(onA.error() instanceof HistoryLostError, String(onA.error()));
  });
});
