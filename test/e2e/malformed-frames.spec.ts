import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SendRequestSchema, SendResponseSchema } from "../../src/gen/chat/v1/chat_pb.ts";
import { withServer } from "../support/server.ts";
import { envelope, grpcWebTrailers, parseEnvelopes } from "./support/envelope.ts";
import { grpcStatus, openRawH2 } from "./support/raw-h2.ts";
import { assertStillServes } from "./support/still-serves.ts";

// Bodies that are not what the protocol promises, byte by byte. The codes are
// Connect-ES's (and match gRPC's status-code guide where it has a say: a
// unary method with zero or two messages is UNIMPLEMENTED), except that a
// message that cannot be decoded is INVALID_ARGUMENT, not Connect-ES's
// INTERNAL (see test/e2e/undecodable-requests.spec.ts).

const sendPath = "/chat.v1.ChatService/Send";
const request = Buffer.from(
  toBinary(SendRequestSchema, create(SendRequestSchema, { room: "r", sender: "s", text: "hi" })),
);

/** Each case: what is wrong, the body, the gRPC status code and a piece of its message. */
const cases: { name: string; body: Buffer; code: number; message: RegExp }[] = [
  {
    name: "shorter than an envelope header",
    body: Buffer.from([0, 0, 0]),
    code: 3, // INVALID_ARGUMENT
    message: /incomplete envelope/,
  },
  {
    name: "an envelope cut short",
    body: envelope(request).subarray(0, 8),
    code: 3,
    message: /incomplete envelope/,
  },
  {
    // "hell" read as a length: 1.7 GB, refused before anything is buffered.
    name: "text instead of envelopes",
    body: Buffer.from("hello world, this is not gRPC"),
    code: 8, // RESOURCE_EXHAUSTED
    message: /larger than configured readMaxBytes/,
  },
  {
    name: "an envelope of bytes that are no SendRequest",
    body: envelope(Buffer.from([0x0a, 0x7f, 0x61])),
    code: 3,
    message: /parse binary/,
  },
  {
    name: "the compressed flag without a grpc-encoding",
    body: envelope(request, 1),
    code: 3,
    message: /compressed/,
  },
  {
    name: "two messages for a unary method",
    body: Buffer.concat([envelope(request), envelope(request)]),
    code: 12, // UNIMPLEMENTED
    message: /extra input message/,
  },
  {
    name: "no message for a unary method",
    body: Buffer.alloc(0),
    code: 12,
    message: /missing input message/,
  },
];

describe("malformed gRPC bodies over h2c", () => {
  it("each get a gRPC status, and the same connection still works", () =>
    withServer(async (server) => {
      const h2 = openRawH2(server.url);
      try {
        for (const c of cases) {
          const res = await h2.post(sendPath, c.body);
          assert.equal(res.headers[":status"], 200, c.name);
          const status = grpcStatus(res);
          assert.equal(status.code, c.code, `${c.name}: ${status.message}`);
          assert.match(status.message, c.message, c.name);
        }
        // Stream errors, not connection errors: the session is still good.
        const ok = await h2.post(sendPath, envelope(request));
        assert.equal(grpcStatus(ok).code, 0);
        const [reply] = parseEnvelopes(ok.body).envelopes;
        assert.equal(fromBinary(SendResponseSchema, reply?.data ?? new Uint8Array()).seq, 1n);
      } finally {
        h2.close();
      }
      await assertStillServes(server);
    }));
});

describe("malformed gRPC-Web bodies over HTTP/1.1", () => {
  it("each get a gRPC status in the trailer frame", () =>
    withServer(async (server) => {
      // Only the cases whose error comes from reading the body; the cardinality
      // checks are the same code path as for gRPC.
      for (const c of cases.slice(0, 5)) {
        const res = await fetch(`${server.url}${sendPath}`, {
          method: "POST",
          headers: { "content-type": "application/grpc-web+proto" },
          body: new Uint8Array(c.body),
          signal: AbortSignal.timeout(3000),
        });
        assert.equal(res.status, 200, c.name);
        const body = new Uint8Array(await res.arrayBuffer());
        const trailers = grpcWebTrailers(body) ?? {};
        const code = trailers["grpc-status"] ?? res.headers.get("grpc-status");
        assert.equal(Number(code), c.code, `${c.name}: ${JSON.stringify(trailers)}`);
        const message = decodeURIComponent(trailers["grpc-message"] ?? "");
        assert.match(message, c.message, c.name);
      }
      await assertStillServes(server);
    }));
});

describe("malformed Connect streaming bodies over HTTP/1.1", () => {
  it("end the stream with an error message; no subscription starts", () =>
    withServer(async (server) => {
      // Connect streams answer HTTP 200 and put the error in the end-stream
      // message (flag 2). Same framing as gRPC, so the same codes.
      for (const c of cases.slice(0, 4)) {
        const res = await fetch(`${server.url}/chat.v1.ChatService/Subscribe`, {
          method: "POST",
          headers: { "content-type": "application/connect+proto" },
          body: new Uint8Array(c.body),
          signal: AbortSignal.timeout(3000),
        });
        assert.equal(res.status, 200, c.name);
        const [end] = parseEnvelopes(new Uint8Array(await res.arrayBuffer())).envelopes;
        assert.equal(end?.flags, 2, c.name);
        const { error } = JSON.parse(Buffer.from(end.data).toString("utf8"));
        const expected = { 3: "invalid_argument", 8: "resource_exhausted" };
        assert.equal(error.code, expected[c.code as keyof typeof expected], c.name);
        assert.match(error.message, c.message, c.name);
      }
      assert.equal(server.rooms.subscriberCount(), 0);
      await assertStillServes(server);
    }));
});
