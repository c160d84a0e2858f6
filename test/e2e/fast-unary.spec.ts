import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { ChatService, SendRequestSchema } from "../../src/gen/chat/v1/chat_pb.ts";
import { ChatServer } from "../../src/gen/grpc/chat_pb.ts";
import { withServer } from "../support/server.ts";
import { allTransportKinds, createTestTransport } from "../support/transports.ts";
import { envelope } from "./support/envelope.ts";
import { expectError } from "./support/errors.ts";
import { sampleValue, scrape } from "./support/metrics.ts";
import { subscribe } from "./support/subscribe.ts";

// The unary fast path (src/fast-path/unary-call.ts) serves Send, SendNote
// and SetTyping over gRPC and gRPC-Web without Connect's handler pipeline,
// and gRPC calls on h2c are taken from the HTTP/2 server's stream event,
// before Fastify. These tests pin down which calls it takes, and that what
// a client gets is the same on every protocol, fast path or not. Bodies
// that break the protocol are covered by malformed-frames.spec.ts and
// undecodable-requests.spec.ts, rate limits by rate-limits.spec.ts, which
// all run through it.

/** Calls of Connect's own unary protocol are left to Connect. */
const fastKinds = new Set(["grpc", "grpcweb-h1", "grpcweb-h2"]);

describe("the unary fast path", () => {
  for (const kind of allTransportKinds) {
    it(`Send, SendNote and SetTyping mean the same over ${kind}`, () =>
      withServer(async (server) => {
        const t = createTestTransport(server.url, kind);
        const chat = createClient(ChatService, t.transport);
        const seed = createClient(ChatServer, t.transport);
        const sub = subscribe(chat, { room: "lobby", name: "watcher" });
        try {
          await sub.waitForReady(3000);
          const before = server.fastStreams.servedUnary();
          const first = await chat.send({
            room: "lobby",
            sender: "ann",
            text: "one",
            clientId: "c1",
          });
          assert.equal(first.seq, 1n);
          assert.equal(first.clientId, "c1");
          assert.equal(first.duplicate, false);
          assert.ok(first.sentAt !== undefined, "sent_at set");
          const retried = await chat.send({
            room: "lobby",
            sender: "ann",
            text: "one",
            clientId: "c1",
          });
          assert.equal(retried.seq, 1n, "a retried client id keeps its seq");
          assert.equal(retried.duplicate, true);
          assert.deepEqual(await seed.sendNote({ name: "bob", message: "two" }), {
            $typeName: "grpc.Empty",
          });
          await chat.setTyping({ room: "lobby", name: "ann", typing: true });
          const bad = await expectError(() => chat.send({ room: "", sender: "ann", text: "x" }));
          assert.equal(bad.code, Code.InvalidArgument);
          const messages = await sub.waitForMessages(2, 3000);
          assert.deepEqual(
            messages.map((m) => [m.seq, m.sender, m.text]),
            [
              [1n, "ann", "one"],
              [2n, "bob", "two"],
            ],
          );
          const taken = server.fastStreams.servedUnary() - before;
          assert.equal(taken, fastKinds.has(kind) ? 5 : 0, "calls taken by the fast path");
        } finally {
          await sub.cancel();
          t.close();
        }
      }));
  }

  it("takes gRPC calls on h2c before Fastify, and still counts them as requests", () =>
    withServer(async (server) => {
      const t = createTestTransport(server.url, "grpc");
      const chat = createClient(ChatService, t.transport);
      try {
        const before = server.fastStreams.servedBeforeFastify();
        const count = async () =>
          sampleValue(await scrape(server.url), "chat_requests_total", {
            protocol: "grpc",
            http_version: "2",
          });
        const requestsBefore = await count();
        await chat.send({ room: "r", sender: "a", text: "hi" });
        const sub = subscribe(chat, { room: "r", start: { case: "afterSeq", value: 0n } });
        await sub.waitForMessages(1, 3000);
        await sub.cancel();
        assert.equal(server.fastStreams.servedBeforeFastify() - before, 2);
        assert.equal((await count()) - requestsBefore, 2, "chat_requests_total");
      } finally {
        t.close();
      }
    }));

  it("leaves a request with an Origin to Fastify, which adds the CORS headers", () =>
    withServer(
      async (server) => {
        const before = server.fastStreams.servedBeforeFastify();
        const beforeUnary = server.fastStreams.servedUnary();
        const session = http2.connect(server.url);
        try {
          const body = envelope(
            toBinary(
              SendRequestSchema,
              create(SendRequestSchema, { room: "r", sender: "a", text: "hi" }),
            ),
          );
          const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
            const req = session.request({
              ":method": "POST",
              ":path": "/chat.v1.ChatService/Send",
              "content-type": "application/grpc-web+proto",
              origin: "https://chat.example",
            });
            req.on("response", resolve);
            req.on("error", reject);
            req.resume();
            req.end(body);
          });
          assert.equal(headers[":status"], 200);
          assert.equal(headers["access-control-allow-origin"], "https://chat.example");
          assert.equal(
            server.fastStreams.servedBeforeFastify(),
            before,
            "not taken before Fastify",
          );
          assert.equal(server.fastStreams.servedUnary() - beforeUnary, 1, "but by the fast path");
        } finally {
          session.destroy();
        }
      },
      { corsOrigins: ["https://chat.example"] },
    ));
});
