import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import {
  type ServerUnderTest,
  startServerUnderTest,
  subscriptionsClosed,
} from "../support/server.ts";
import { createTestTransport } from "../support/transports.ts";
import { bufCurl } from "./support/buf-curl.ts";

// One server for the file, a room of its own per test: a server per test cost
// a second or more on each runtime of the matrix (test/runtimes/), 30 s a run.
let shared: ServerUnderTest;
before(async () => {
  shared = await startServerUnderTest();
});
after(() => shared.close());
const withServer = (body: (server: ServerUnderTest) => Promise<void>) => body(shared);
let rooms = 0;
let room = "";
beforeEach(() => {
  room = `r${++rooms}`;
});

/** A chat.v1 client (Connect over HTTP/1.1) to set up and check what buf curl did. */
const chatAt = (url: string) =>
  createClient(ChatService, createTestTransport(url, "connect-h1").transport);

// The real `buf curl` (connect-go inside) with no --schema: everything it
// knows about our API comes from server reflection.
//
// What we found about HTTP versions (buf 1.75, http:// URLs):
// - Reflection is a bidi stream, so whenever buf curl reflects it switches the
//   whole command to h2c ("Using HTTP/2 prior knowledge over plain-text"):
//   the reflection call AND the RPC itself, in the requested protocol (Connect
//   or gRPC-Web framing on HTTP/2). No separate connection, no extra flag is
//   needed; --http2-prior-knowledge changes nothing then.
// - So buf curl reaches us over HTTP/1.1 only with a local schema
//   (`--schema proto`, which implies no reflection): the last describe does
//   that, to show gRPC-Web and Connect work on HTTP/1.1 for buf curl too.

const modes = [
  { name: "gRPC", flags: ["--protocol", "grpc", "--http2-prior-knowledge"] },
  { name: "gRPC-Web", flags: ["--protocol", "grpcweb"] },
  {
    name: "gRPC-Web --http2-prior-knowledge",
    flags: ["--protocol", "grpcweb", "--http2-prior-knowledge"],
  },
  { name: "Connect", flags: ["--protocol", "connect"] },
  {
    name: "Connect --http2-prior-knowledge",
    flags: ["--protocol", "connect", "--http2-prior-knowledge"],
  },
];

const services = [
  "chat.v1.ChatService",
  "grpc.ChatServer",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

const send = (to: string, text: string) =>
  JSON.stringify({ room: to, sender: "buf", text, clientId: `id-${text}` });

for (const mode of modes) {
  describe(`buf curl --protocol ${mode.name}, schema by reflection`, () => {
    const curl = (...args: string[]) => bufCurl([...mode.flags, ...args]);

    it("sends with chat.v1 Send", () =>
      withServer(async ({ url }) => {
        const { docs, stderr } = await curl(
          "-d",
          send(room, "hi"),
          `${url}/chat.v1.ChatService/Send`,
        );
        assert.equal(docs.length, 1, stderr);
        assert.deepEqual(
          { ...(docs[0] as object), sentAt: undefined },
          {
            seq: "1",
            sentAt: undefined,
            clientId: "id-hi",
          },
        );
      }));

    it("sends a seed note with SendNote, seen in the lobby", () =>
      withServer(async ({ url }) => {
        const data = JSON.stringify({ name: "buf", message: "note" });
        const { docs, stderr } = await curl("-d", data, `${url}/grpc.ChatServer/SendNote`);
        assert.deepEqual(docs, [{}], stderr);
        // The newest lobby message: earlier tests' notes share the lobby.
        const [message] = (await chatAt(url).getHistory({ room: "lobby", limit: 1 })).messages;
        assert.deepEqual([message?.sender, message?.text], ["buf", "note"]);
      }));

    it("replays a room with Subscribe", () =>
      withServer(async (server) => {
        const { url } = server;
        for (const text of ["one", "two"]) {
          await chatAt(url).send({ room, sender: "s", text });
        }
        const data = JSON.stringify({ room, afterSeq: "0" });
        // The stream never ends by itself: stop buf once the replay is in.
        const { docs, stderr } = await bufCurl(
          [...mode.flags, "-d", data, `${url}/chat.v1.ChatService/Subscribe`],
          { docs: 3 },
        );
        type Doc = { event: { message?: { text: string }; ready?: { headSeq: string } } };
        const events = docs.map((d) => (d as Doc).event);
        assert.deepEqual(
          events.map((e) => e.message?.text ?? e.ready?.headSeq),
          ["one", "two", "2"],
          stderr,
        );
        await subscriptionsClosed(server, room);
      }));

    it("lists services", () =>
      withServer(async ({ url }) => {
        const { stdout, stderr } = await curl("--list-services", url);
        assert.deepEqual(stdout.trim().split("\n"), services, stderr);
      }));

    it("checks health", () =>
      withServer(async ({ url }) => {
        const data = JSON.stringify({ service: "" });
        const { docs, stderr } = await curl("-d", data, `${url}/grpc.health.v1.Health/Check`);
        assert.deepEqual(docs, [{ status: "SERVING" }], stderr);
      }));
  });
}

describe("buf curl HTTP versions", () => {
  it("uses h2c for reflection and call alike when it reflects, even for Connect", () =>
    withServer(async ({ url }) => {
      for (const protocol of ["connect", "grpcweb"]) {
        const { docs, stderr } = await bufCurl([
          "-v",
          "--protocol",
          protocol,
          "-d",
          send(room, protocol),
          `${url}/chat.v1.ChatService/Send`,
        ]);
        assert.equal(docs.length, 1, stderr);
        assert.match(stderr, /Using HTTP\/2 prior knowledge over plain-text/);
        assert.match(stderr, /ServerReflection\/ServerReflectionInfo/);
        assert.doesNotMatch(stderr, /HTTP\/1\.1/);
      }
    }));

  it("calls over HTTP/1.1 with a local schema (gRPC-Web and Connect)", () =>
    withServer(async (server) => {
      const { url } = server;
      await chatAt(url).send({ room, sender: "s", text: "one" });
      for (const protocol of ["connect", "grpcweb"]) {
        const local = ["-v", "--protocol", protocol, "--schema", "proto"];
        const sent = await bufCurl([
          ...local,
          "-d",
          send(room, protocol),
          `${url}/chat.v1.ChatService/Send`,
        ]);
        assert.match(sent.stderr, /HTTP\/1\.1 200 OK/);
        assert.doesNotMatch(sent.stderr, /HTTP\/2/);
        const data = JSON.stringify({ room, afterSeq: "0" });
        const sub = await bufCurl([...local, "-d", data, `${url}/chat.v1.ChatService/Subscribe`], {
          docs: 2,
        });
        assert.match(sub.stderr, /HTTP\/1\.1 200 OK/);
        assert.equal(
          (sub.docs[0] as { event: { message: { text: string } } }).event.message.text,
          "one",
        );
      }
      assert.equal((await chatAt(url).getHistory({ room, limit: 10 })).messages.length, 3);
      await subscriptionsClosed(server, room);
    }));
});

describe("buf curl reflection protocol versions", () => {
  it("lists methods and calls through grpc.reflection.v1 and v1alpha alike", () =>
    withServer(async ({ url }) => {
      for (const version of ["grpc-v1", "grpc-v1alpha"]) {
        const reflect = ["--protocol", "grpc", "--reflect-protocol", version];
        const listed = await bufCurl([...reflect, "--list-methods", url]);
        const methods = listed.stdout.trim().split("\n");
        assert.ok(methods.includes("chat.v1.ChatService/Chat"), listed.stderr);
        assert.ok(methods.includes("grpc.health.v1.Health/Watch"), listed.stderr);
        const sent = await bufCurl([
          ...reflect,
          "-d",
          send(room, version),
          `${url}/chat.v1.ChatService/Send`,
        ]);
        assert.equal((sent.docs[0] as { clientId: string }).clientId, `id-${version}`, sent.stderr);
      }
    }));
});
