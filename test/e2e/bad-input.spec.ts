import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { type ChatRequestSchema, ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { withServer } from "../support/server.ts";
import { allTransportKinds, createTestTransport } from "../support/transports.ts";
import { envelope } from "./support/envelope.ts";
import { drain, expectError } from "./support/errors.ts";
import { assertStillServes } from "./support/still-serves.ts";

// Requests a well-behaved client would not send: each gets a clear error
// code (no hang, no crash), and the server keeps serving everyone else.

const timeout = () => ({ signal: AbortSignal.timeout(3000) });

/** A POST to a ChatService method with a body of our own, as no Connect client would send it. */
const post = (url: string, method: "Send" | "Chat", contentType: string, body: BodyInit) =>
  fetch(`${url}/chat.v1.ChatService/${method}`, {
    method: "POST",
    headers: { "content-type": contentType },
    body,
    ...timeout(),
  });

async function* chatRequests(...requests: MessageInitShape<typeof ChatRequestSchema>[]) {
  yield* requests;
}

describe("bidi Chat over HTTP/1.1", () => {
  for (const kind of ["connect-h1", "grpcweb-h1"] as const) {
    it(`fails fast for a ${kind} client, with Unimplemented naming HTTP/2`, () =>
      withServer(async (server) => {
        const { transport } = createTestTransport(server.url, kind);
        const client = createClient(ChatService, transport);
        const subscribe = { kind: { case: "subscribe", value: { room: "r" } } } as const;
        const err = await expectError(() => drain(client.chat(chatRequests(subscribe), timeout())));
        assert.equal(err.code, Code.Unimplemented);
        assert.match(err.rawMessage, /needs HTTP\/2/);
        await assertStillServes(server);
      }));
  }

  it("answers a raw Connect streaming POST with an unimplemented end-stream error", () =>
    withServer(async (server) => {
      const subscribe = envelope(Buffer.from(JSON.stringify({ subscribe: { room: "r" } })));
      const frame = new Uint8Array(subscribe);
      const res = await post(server.url, "Chat", "application/connect+json", frame);
      // Connect streams report errors in the end-stream message (flag 2), HTTP 200.
      assert.equal(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(body.readUInt8(0), 2);
      const end = JSON.parse(body.subarray(5).toString("utf8"));
      assert.equal(end.error.code, "unimplemented");
      await assertStillServes(server);
    }));

  it("answers gRPC over HTTP/1.1 with 505 HTTP Version Not Supported", () =>
    withServer(async (server) => {
      const res = await post(server.url, "Chat", "application/grpc", new Uint8Array(5));
      assert.equal(res.status, 505);
      await res.arrayBuffer();
      await assertStillServes(server);
    }));
});

describe("Connect unary over HTTP/1.1 with a bad body", () => {
  it("invalid JSON: HTTP 400, invalid_argument", () =>
    withServer(async (server) => {
      const res = await post(server.url, "Send", "application/json", '{"room": "r", oops');
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { code: string }).code, "invalid_argument");
      await assertStillServes(server);
    }));

  it("invalid binary protobuf: HTTP 400, invalid_argument (Connect-ES alone answers 500, internal)", () =>
    withServer(async (server) => {
      // A field header promising 0x7f bytes that never come.
      const truncated = new Uint8Array([0x0a, 0x7f, 0x61]);
      const res = await post(server.url, "Send", "application/proto", truncated);
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { code: string }).code, "invalid_argument");
      await assertStillServes(server);
    }));

  it("a content type no protocol uses: HTTP 415 Unsupported Media Type", () =>
    withServer(async (server) => {
      const res = await post(server.url, "Send", "text/plain", "hello");
      assert.equal(res.status, 415);
      await res.arrayBuffer();
      await assertStillServes(server);
    }));

  it("maps error codes to Connect's HTTP statuses", () =>
    withServer(
      async (server) => {
        const send = (text: string, room = "r") =>
          post(server.url, "Send", "application/json", JSON.stringify({ room, sender: "s", text }));
        const oversized = await send("x".repeat(2000));
        assert.deepEqual(
          [oversized.status, ((await oversized.json()) as { code: string }).code],
          [429, "resource_exhausted"],
        );
        const badRoom = await send("hi", "Not A Room!");
        assert.deepEqual(
          [badRoom.status, ((await badRoom.json()) as { code: string }).code],
          [400, "invalid_argument"],
        );
        await assertStillServes(server);
      },
      { maxRequestBytes: 1024 },
    ));
});

describe("requests that break the API's rules", () => {
  for (const kind of allTransportKinds) {
    it(`get the right codes over ${kind}`, () =>
      withServer(
        async (server) => {
          const { transport, close } = createTestTransport(server.url, kind);
          const client = createClient(ChatService, transport);
          const send = (text: string, room = "r") =>
            expectError(() => client.send({ room, sender: "s", text }, timeout()));
          const codeOf = async (p: Promise<{ code: Code }>) => Code[(await p).code];
          try {
            // 2000 bytes of text: over maxRequestBytes before any field is looked at.
            assert.equal(await codeOf(send("x".repeat(2000))), "ResourceExhausted");
            // 51 characters but 102 UTF-8 bytes: over maxTextBytes.
            const long = await send("é".repeat(51));
            assert.equal(Code[long.code], "InvalidArgument");
            assert.match(long.rawMessage, /at most 100 UTF-8 bytes/);
            assert.equal(await codeOf(send("")), "InvalidArgument");
            assert.equal(await codeOf(send("   ")), "InvalidArgument");
            const badRoom = await send("hi", "Not A Room!");
            assert.equal(Code[badRoom.code], "InvalidArgument");
            assert.match(badRoom.rawMessage, /room must be 1 to 64 of a-z 0-9/);
            const badId = await expectError(() =>
              client.send({ room: "r", sender: "s", text: "hi", clientId: "has space" }, timeout()),
            );
            assert.equal(Code[badId.code], "InvalidArgument");
            assert.match(badId.rawMessage, /client_id must be at most 64 printable ASCII/);
            const ahead = expectError(() =>
              drain(
                client.subscribe({ room: "r", start: { case: "afterSeq", value: 5n } }, timeout()),
              ),
            );
            assert.equal(await codeOf(ahead), "OutOfRange");
            const tooMany = expectError(() =>
              drain(
                client.subscribe({ room: "r", start: { case: "last", value: 100_000 } }, timeout()),
              ),
            );
            assert.equal(await codeOf(tooMany), "InvalidArgument");
            const history = expectError(() =>
              client.getHistory({ room: "r", limit: 100_000 }, timeout()),
            );
            assert.equal(await codeOf(history), "InvalidArgument");
            if (!kind.endsWith("-h1")) {
              const send = {
                kind: { case: "send", value: { room: "r", sender: "s", text: "hi" } },
              } as const;
              const chat = expectError(() => drain(client.chat(chatRequests(send), timeout())));
              assert.equal(await codeOf(chat), "InvalidArgument");
            }
            // None of it was stored.
            assert.deepEqual((await client.getHistory({ room: "r" }, timeout())).messages, []);
          } finally {
            close();
          }
          await assertStillServes(server);
        },
        { maxRequestBytes: 1024, limits: { maxTextBytes: 100 } },
      ));
  }
});
