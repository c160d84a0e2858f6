/**
 * Presence, typing and heartbeats over every protocol: ephemeral events that
 * are never stored nor replayed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Client, createClient } from "@connectrpc/connect";
import { ChatService, type Event } from "../../src/gen/chat/v1/chat_pb.ts";
import { eventually, withServer } from "../support/server.ts";
import { allTransportKinds, createTestTransport } from "../support/transports.ts";

/** A Subscribe call whose events are described as short strings. */
function watch(client: Client<typeof ChatService>, room: string, name: string, last?: number) {
  const call = new AbortController();
  const events: string[] = [];
  const done = (async () => {
    const start = last === undefined ? undefined : ({ case: "last", value: last } as const);
    try {
      for await (const res of client.subscribe({ room, name, start }, { signal: call.signal })) {
        events.push(describeEvent(res.event));
      }
    } catch {
      // Canceled by the test.
    }
  })();
  return {
    events,
    async stop() {
      call.abort();
      await done;
    },
  };
}

function describeEvent(event: Event | undefined): string {
  const k = event?.kind;
  switch (k?.case) {
    case "ready":
      return `ready [${k.value.members.map((m) => m.name).join(",")}]`;
    case "memberJoined":
      return `joined ${k.value.member?.name}`;
    case "memberLeft":
      return `left ${k.value.name}`;
    case "typing":
      return `typing ${k.value.name} ${k.value.typing}`;
    case "message":
      return `message ${k.value.text}`;
    default:
      return String(k?.case);
  }
}

describe("presence and typing", () => {
  for (const kind of allTransportKinds) {
    it(`joins, lists, types and leaves over ${kind}`, () =>
      withServer(async (server) => {
        const { transport, close } = createTestTransport(server.url, kind);
        const client = createClient(ChatService, transport);
        const room = "p";
        const ann = watch(client, room, "ann");
        try {
          await eventually(() => ann.events.includes("joined ann"), 3000, "ann's own join");
          const bob = watch(client, room, "bob");
          await eventually(() => bob.events.length >= 2, 3000, "bob's ready and join");
          assert.deepEqual(bob.events.slice(0, 2), ["ready [ann]", "joined bob"]);
          const { members } = await client.listMembers({ room });
          assert.deepEqual(
            members.map((m) => m.name),
            ["ann", "bob"],
          );
          assert.ok(Number(members[0]?.since?.seconds) > 1_700_000_000, "since is set");

          await client.setTyping({ room, name: "bob", typing: true });
          await client.send({ room, sender: "bob", text: "hi" });
          await client.setTyping({ room, name: "bob", typing: false });
          await bob.stop();
          await eventually(() => ann.events.includes("left bob"), 3000, "bob's leave");
          assert.deepEqual(ann.events, [
            "ready []",
            "joined ann",
            "joined bob",
            "typing bob true",
            "message hi",
            "typing bob false",
            "left bob",
          ]);
          assert.deepEqual(
            (await client.listMembers({ room })).members.map((m) => m.name),
            ["ann"],
          );

          // Nothing ephemeral is replayed: a late subscriber sees the message only.
          const late = watch(client, room, "", 10);
          await eventually(() => late.events.length >= 2, 3000, "the late replay");
          assert.deepEqual(late.events, ["message hi", "ready [ann]"]);
          await late.stop();
        } finally {
          await ann.stop();
          close();
        }
        await eventually(
          async () => (await server.rooms.members(room)).length === 0,
          3000,
          "everyone gone",
        );
      }));
  }

  it("counts a name once however many streams it has open", () =>
    withServer(async (server) => {
      const { transport, close } = createTestTransport(server.url, "grpc");
      const client = createClient(ChatService, transport);
      const watcher = watch(client, "multi", "");
      const tabs = [watch(client, "multi", "ann"), watch(client, "multi", "ann")];
      try {
        await eventually(() => server.rooms.subscriberCount("multi") === 3, 3000, "3 streams");
        await tabs[0]?.stop();
        await eventually(() => server.rooms.subscriberCount("multi") === 2, 3000, "2 streams");
        assert.deepEqual(
          (await client.listMembers({ room: "multi" })).members.map((m) => m.name),
          ["ann"],
        );
        await tabs[1]?.stop();
        await eventually(() => watcher.events.includes("left ann"), 3000, "ann left");
        assert.deepEqual(
          watcher.events.filter((e) => e.includes("ann")),
          ["joined ann", "left ann"],
        );
      } finally {
        for (const w of [watcher, ...tabs]) await w?.stop();
        close();
      }
    }));

  it("takes typing notices and sends on one bidi Chat stream", () =>
    withServer(async (server) => {
      const { transport, close } = createTestTransport(server.url, "grpc");
      const client = createClient(ChatService, transport);
      const ann = watch(client, "bidi", "ann");
      const call = new AbortController();
      try {
        await eventually(() => ann.events.includes("joined ann"), 3000, "ann joined");
        async function* requests() {
          yield { kind: { case: "subscribe", value: { room: "bidi", name: "bob" } } } as const;
          yield { kind: { case: "typing", value: { typing: true } } } as const;
          yield { kind: { case: "send", value: { sender: "bob", text: "via chat" } } } as const;
          await new Promise((r) => call.signal.addEventListener("abort", r));
        }
        const responses = client.chat(requests(), { signal: call.signal });
        const acks: bigint[] = [];
        void (async () => {
          for await (const res of responses) {
            if (res.kind.case === "sent") acks.push(res.kind.value.seq);
          }
        })().catch(() => {});
        await eventually(() => acks.length === 1, 3000, "the ack");
        await eventually(() => ann.events.includes("message via chat"), 3000, "the message");
        assert.deepEqual(ann.events.slice(2), [
          "joined bob",
          "typing bob true",
          "message via chat",
        ]);
      } finally {
        call.abort();
        await ann.stop();
        close();
      }
    }));

  it("rejects typing notices and member lists with bad input", () =>
    withServer(async (server) => {
      const { transport, close } = createTestTransport(server.url, "connect-h1");
      const client = createClient(ChatService, transport);
      try {
        await assert.rejects(
          client.setTyping({ room: "r", name: " ", typing: true }),
          /name must not be empty/,
        );
        await assert.rejects(client.listMembers({ room: "NO" }), /room must be 1 to 64/);
        await assert.rejects(
          client
            .subscribe({ room: "r", name: "x".repeat(65) })
            [Symbol.asyncIterator]()
            .next(),
          /name: must be at most 64 characters/,
        );
      } finally {
        close();
      }
    }));
});

describe("heartbeats", () => {
  for (const kind of allTransportKinds) {
    it(`arrive on a quiet stream over ${kind}`, () =>
      withServer(
        async (server) => {
          const { transport, close } = createTestTransport(server.url, kind);
          const client = createClient(ChatService, transport);
          const quiet = watch(client, "quiet", "");
          try {
            await eventually(
              () => quiet.events.filter((e) => e === "heartbeat").length >= 2,
              3000,
              "two heartbeats",
            );
            assert.equal(quiet.events[0], "ready []");
          } finally {
            await quiet.stop();
            close();
          }
        },
        { heartbeatMs: 100 },
      ));
  }
});
