import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ServerUnderTest,
  subscriptionsClosed,
  withServerUnderTest,
} from "../support/server.ts";
import {
  collectStream,
  createGrpcJsClients,
  type GrpcJsClients,
  grpc,
  type Msg,
  unary,
} from "./support/grpc-js.ts";

// @grpc/grpc-js with @grpc/proto-loader: a gRPC implementation that shares
// no code with Connect, reading the .proto files directly.

function withClients(body: (s: ServerUnderTest, c: GrpcJsClients) => Promise<void>) {
  return withServerUnderTest(async (server) => {
    const clients = createGrpcJsClients(server.port);
    try {
      await body(server, clients);
    } finally {
      clients.close();
    }
  });
}

const message = (m: Msg) => ({ seq: m.event.message.seq, text: m.event.message.text });

describe("@grpc/grpc-js against our server", () => {
  it("sends with unary Send", () =>
    withClients(async (_, { chat }) => {
      const req = { room: "r", sender: "gj", text: "hello", client_id: "c-1" };
      const first = await unary(chat, "Send", req);
      assert.equal(first.seq, "1");
      assert.equal(first.client_id, "c-1");
      assert.ok(Number(first.sent_at.seconds) > 1_700_000_000, "sent_at is set");
      // A retry with the same client id is the same message.
      const retry = await unary(chat, "Send", req);
      assert.deepEqual([retry.seq, retry.duplicate], ["1", true]);
      assert.equal((await unary(chat, "Send", { ...req, client_id: "c-2" })).seq, "2");
    }));

  it("replays, then streams live messages with Subscribe", () =>
    withClients(async (server, { chat }) => {
      for (const text of ["a", "b"]) await unary(chat, "Send", { room: "r", sender: "s", text });
      const call = chat.Subscribe({ room: "r", after_seq: 0 }, { deadline: Date.now() + 5000 });
      const log = collectStream(call);
      await log.waitFor(3);
      assert.deepEqual(log.messages.slice(0, 2).map(message), [
        { seq: "1", text: "a" },
        { seq: "2", text: "b" },
      ]);
      assert.equal(log.messages[2]?.event.ready.head_seq, "2");
      assert.equal(log.messages[2]?.event.kind, "ready");

      await unary(chat, "Send", { room: "r", sender: "s", text: "c" });
      await log.waitFor(4);
      assert.deepEqual(message(log.messages[3] as Msg), { seq: "3", text: "c" });

      call.cancel();
      assert.equal((await log.ended)?.code, grpc.status.CANCELLED);
      await subscriptionsClosed(server);
    }));

  it("subscribes, sends and receives the ack and the event on a bidi Chat", () =>
    withClients(async (server, { chat }) => {
      await unary(chat, "Send", { room: "r", sender: "s", text: "before" });
      const call = chat.Chat({ deadline: Date.now() + 5000 });
      const log = collectStream(call);
      call.write({ subscribe: { room: "r", after_seq: 0 } });
      await log.waitFor(2);
      assert.deepEqual(message(log.messages[0] as Msg), { seq: "1", text: "before" });
      assert.equal(log.messages[1]?.event.ready.head_seq, "1");

      call.write({ send: { room: "", sender: "gj", text: "mine", client_id: "c-7" } });
      await log.waitFor(4);
      const rest = log.messages.slice(2);
      const ack = rest.find((m) => m.kind === "sent");
      const event = rest.find((m) => m.kind === "event");
      assert.deepEqual(
        { seq: ack?.sent.seq, clientId: ack?.sent.client_id },
        {
          seq: "2",
          clientId: "c-7",
        },
      );
      assert.deepEqual(event?.event.message.room, "r", "an empty room means the subscribed one");
      assert.deepEqual(message(event as Msg), { seq: "2", text: "mine" });

      call.cancel();
      assert.equal((await log.ended)?.code, grpc.status.CANCELLED);
      await subscriptionsClosed(server);
    }));

  it("speaks the seed's SendNote and ChatStream, shared with chat.v1's lobby", () =>
    withClients(async (server, { chat, seed }) => {
      assert.deepEqual(await unary(seed, "SendNote", { name: "py", message: "from seed" }), {});
      await unary(chat, "Send", { room: "lobby", sender: "v1", text: "from chat.v1" });
      const call = seed.ChatStream({}, { deadline: Date.now() + 5000 });
      const log = collectStream(call);
      await log.waitFor(2);
      await unary(seed, "SendNote", { name: "py", message: "live" });
      assert.deepEqual(await log.waitFor(3), [
        { name: "py", message: "from seed" },
        { name: "v1", message: "from chat.v1" },
        { name: "py", message: "live" },
      ]);
      call.cancel();
      await log.ended;
      await subscriptionsClosed(server);
    }));

  it("answers health Check", () =>
    withClients(async (_, { health }) => {
      assert.deepEqual(await unary(health, "Check", { service: "" }), { status: "SERVING" });
      await assert.rejects(
        unary(health, "Check", { service: "no.such.Service" }),
        (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND,
      );
    }));

  it("ends a Subscribe at its deadline and frees the subscription", () =>
    withClients(async (server, { chat }) => {
      const call = chat.Subscribe({ room: "r", after_seq: 0 }, { deadline: Date.now() + 1000 });
      const log = collectStream(call);
      await log.waitFor(1); // Ready: subscribed.
      const error = await log.ended;
      assert.equal(error?.code, grpc.status.DEADLINE_EXCEEDED);
      await subscriptionsClosed(server);
    }));
});
