/**
 * The protocol matrix with connect-node clients against the real server on a
 * real port: gRPC, gRPC-Web and Connect, over HTTP/1.1 and HTTP/2 (h2c), on
 * the same port. Unary and server streaming everywhere; bidi where the HTTP
 * version allows it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { ChatServer } from "../../src/gen/grpc/chat_pb.ts";
import {
  eventually,
  type ServerUnderTest,
  startServerUnderTest,
  subscriptionsClosed,
} from "../support/server.ts";

type HttpVersion = "1.1" | "2";
interface Variant {
  name: string;
  httpVersion: HttpVersion;
  make(baseUrl: string): Transport;
  bidi: boolean;
}

const variants: Variant[] = [
  {
    name: "gRPC over h2c",
    httpVersion: "2",
    bidi: true,
    make: (baseUrl) => createGrpcTransport({ baseUrl }),
  },
  ...(["1.1", "2"] as const).flatMap((httpVersion): Variant[] => [
    {
      name: `Connect over HTTP/${httpVersion}`,
      httpVersion,
      bidi: httpVersion === "2",
      make: (baseUrl) => createConnectTransport({ baseUrl, httpVersion }),
    },
    {
      name: `gRPC-Web over HTTP/${httpVersion}`,
      httpVersion,
      bidi: httpVersion === "2",
      make: (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion }),
    },
  ]),
];

let server: ServerUnderTest;
before(async () => {
  server = await startServerUnderTest();
});
after(async () => {
  await server.close();
});

let roomCounter = 0;
const freshRoom = () => `room-${++roomCounter}`;

for (const v of variants) {
  describe(v.name, () => {
    it("Send returns increasing sequence numbers", async () => {
      const client = createClient(ChatService, v.make(server.url));
      const room = freshRoom();
      const a = await client.send({ room, sender: "ann", text: "one", clientId: "c1" });
      const b = await client.send({ room, sender: "ann", text: "two" });
      assert.equal(a.seq, 1n);
      assert.equal(b.seq, 2n);
      assert.equal(a.clientId, "c1");
      assert.ok(a.sentAt && a.sentAt.seconds > 0n);
    });

    it("Subscribe replays history, marks ready, then streams live messages", async () => {
      const client = createClient(ChatService, v.make(server.url));
      const room = freshRoom();
      await client.send({ room, sender: "ann", text: "before-1" });
      await client.send({ room, sender: "bob", text: "before-2" });
      const ac = new AbortController();
      const seen: string[] = [];
      let ready: bigint | undefined;
      const reader = (async () => {
        for await (const res of client.subscribe(
          { room, start: { case: "afterSeq", value: 0n } },
          { signal: ac.signal },
        )) {
          const kind = res.event?.kind;
          if (kind?.case === "ready") ready = kind.value.headSeq;
          if (kind?.case === "message") seen.push(`${kind.value.seq}:${kind.value.text}`);
          if (seen.length === 3) break;
        }
        // Leaving the loop does not cancel a connect-es call: abort it.
        ac.abort();
      })();
      await eventually(() => ready !== undefined, 5000, "ready");
      assert.equal(ready, 2n);
      await client.send({ room, sender: "ann", text: "live" });
      await reader;
      assert.deepEqual(seen, ["1:before-1", "2:before-2", "3:live"]);
      await subscriptionsClosed(server, room, 5000);
    });

    it("GetHistory pages backwards", async () => {
      const client = createClient(ChatService, v.make(server.url));
      const room = freshRoom();
      for (let i = 1; i <= 5; i++) await client.send({ room, sender: "s", text: `m${i}` });
      const p1 = await client.getHistory({ room, limit: 2 });
      assert.deepEqual(
        p1.messages.map((m) => m.text),
        ["m4", "m5"],
      );
      const p2 = await client.getHistory({ room, limit: 2, beforeSeq: p1.nextBeforeSeq });
      assert.deepEqual(
        p2.messages.map((m) => m.text),
        ["m2", "m3"],
      );
      const p3 = await client.getHistory({ room, limit: 2, beforeSeq: p2.nextBeforeSeq });
      assert.deepEqual(
        p3.messages.map((m) => m.text),
        ["m1"],
      );
      assert.equal(p3.nextBeforeSeq, 0n);
    });

    it("the seed's ChatServer shares the lobby with chat.v1", async () => {
      const seed = createClient(ChatServer, v.make(server.url));
      const chat = createClient(ChatService, v.make(server.url));
      const ac = new AbortController();
      const tag = `${v.name}-${Date.now()}`;
      const notes: string[] = [];
      const reader = (async () => {
        for await (const note of seed.chatStream({}, { signal: ac.signal })) {
          if (note.message.startsWith(tag)) notes.push(`[${note.name}] ${note.message}`);
          if (notes.length === 2) break;
        }
        ac.abort();
      })();
      await seed.sendNote({ name: "py", message: `${tag} from seed` });
      await chat.send({ room: "lobby", sender: "ts", text: `${tag} from v1` });
      await reader;
      assert.deepEqual(notes, [`[py] ${tag} from seed`, `[ts] ${tag} from v1`]);
      const history = await chat.getHistory({ room: "lobby", limit: 500 });
      assert.ok(history.messages.some((m) => m.sender === "py" && m.text === `${tag} from seed`));
    });

    if (v.bidi) {
      it("Chat sends and receives on one bidi stream", async () => {
        const client = createClient(ChatService, v.make(server.url));
        const room = freshRoom();
        await client.send({ room, sender: "old", text: "history" });
        const outbox =
          queue<Parameters<typeof client.chat>[0] extends AsyncIterable<infer R> ? R : never>();
        outbox.push({
          kind: { case: "subscribe", value: { room, start: { case: "last", value: 10 } } },
        });
        const got: string[] = [];
        const ac = new AbortController();
        for await (const res of client.chat(outbox.iterable, { signal: ac.signal })) {
          if (res.kind.case === "event" && res.kind.value.kind.case === "ready") {
            outbox.push({
              kind: { case: "send", value: { sender: "me", text: "hello", clientId: "x1" } },
            });
          }
          if (res.kind.case === "event" && res.kind.value.kind.case === "message") {
            got.push(`msg:${res.kind.value.kind.value.text}`);
          }
          if (res.kind.case === "sent")
            got.push(`ack:${res.kind.value.clientId}:${res.kind.value.seq}`);
          if (got.length === 3) {
            outbox.end();
            break;
          }
        }
        ac.abort();
        assert.equal(got[0], "msg:history");
        assert.deepEqual(got.slice(1).sort(), ["ack:x1:2", "msg:hello"]);
        await subscriptionsClosed(server, room, 5000);
      });
    } else {
      it("Chat (bidi) is refused with a clear error over HTTP/1.1", async () => {
        const client = createClient(ChatService, v.make(server.url));
        const outbox = queue<never>();
        await assert.rejects(
          (async () => {
            for await (const _ of client.chat(outbox.iterable)) break;
          })(),
          (e: unknown) => {
            const ce = ConnectError.from(e);
            assert.equal(ce.code, Code.Unimplemented);
            assert.match(ce.rawMessage, /needs HTTP\/2/);
            return true;
          },
        );
        outbox.end();
      });
    }
  });
}

describe("many streams", () => {
  it("hold 50 open subscriptions without listener-leak warnings, and release them all", async () => {
    const client = createClient(ChatService, createGrpcTransport({ baseUrl: server.url }));
    const room = freshRoom();
    const controllers = Array.from({ length: 50 }, () => new AbortController());
    let ready = 0;
    const streams = controllers.map(async (ac) => {
      try {
        for await (const res of client.subscribe(
          { room, start: { case: "afterSeq", value: 0n } },
          { signal: ac.signal },
        )) {
          if (res.event?.kind.case === "ready") ready++;
        }
      } catch {
        /* canceled */
      }
    });
    await eventually(() => ready === 50, 5000, "50 subscribers");
    for (const ac of controllers) ac.abort();
    await Promise.all(streams);
    await subscriptionsClosed(server, room, 5000);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(server.warnings(), []);
  });
});

describe("shutdown", () => {
  it("ends open streams of every protocol with Unavailable and closes promptly", async () => {
    const s = await startServerUnderTest({ shutdownTimeoutMs: 2000 });
    let ready = 0;
    const outcomes = variants.map(async (v) => {
      const client = createClient(ChatService, v.make(s.url));
      try {
        for await (const res of client.subscribe({
          room: "bye",
          start: { case: "afterSeq", value: 0n },
        })) {
          if (res.event?.kind.case === "ready") ready++;
        }
        return "ended without error";
      } catch (e) {
        return Code[ConnectError.from(e).code];
      }
    });
    await eventually(() => ready === variants.length, 5000, "subscribers");
    const started = Date.now();
    await s.close();
    assert.ok(Date.now() - started < 2000, `close took ${Date.now() - started} ms`);
    assert.deepEqual(
      await Promise.all(outcomes),
      variants.map(() => "Unavailable"),
    );
  });
});

/** A push-driven async iterable for client-streaming requests. */
function queue<T>() {
  const items: T[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  return {
    push(item: T) {
      items.push(item);
      wake?.();
    },
    end() {
      done = true;
      wake?.();
    },
    iterable: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          while (items.length > 0) yield items.shift() as T;
          if (done) return;
          await new Promise<void>((r) => {
            wake = r;
          });
        }
      },
    } as AsyncIterable<T>,
  };
}
