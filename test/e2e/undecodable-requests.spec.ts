/**
 * Request messages that cannot be decoded (a truncated field, invalid UTF-8
 * in a string) are the client's fault: InvalidArgument on every protocol,
 * unary and streaming, and never an error line in the server's log. They
 * once got Internal (HTTP 500 for Connect), and each failed stream logged an
 * error with a full stack, so any client could flood the log.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { startServer, type TestServer } from "../support/server.ts";
import { envelope, grpcWebTrailers, parseEnvelopes } from "./support/envelope.ts";
import { grpcStatus, openRawH2, type RawH2Session } from "./support/raw-h2.ts";
import { assertStillServes } from "./support/still-serves.ts";

/** Bytes that are no SendRequest / SubscribeRequest (field 1 is `room` in both). */
const bodies = {
  // A length of 127 bytes, then one.
  "a truncated field": new Uint8Array([0x0a, 0x7f, 0x61]),
  // `room` of two bytes that are no UTF-8.
  "invalid UTF-8 in a string": new Uint8Array([0x0a, 0x02, 0xff, 0xfe]),
};

const methods = {
  unary: "/chat.v1.ChatService/Send",
  "server-streaming": "/chat.v1.ChatService/Subscribe",
};

interface Outcome {
  /** gRPC status code, or Connect's code name. */
  code: number | string;
  message: string;
}

/** Calls `path` with `message` in one protocol and returns the status it ended with. */
type Caller = (path: string, message: Uint8Array, streaming: boolean) => Promise<Outcome>;

interface LogLine {
  level: number;
  msg: string;
}

describe("undecodable request messages", () => {
  let server: TestServer;
  let h2: RawH2Session;
  const log: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) log.push(JSON.parse(line));
      done();
    },
  });

  before(async () => {
    const logger = { level: "debug", stream: sink };
    server = await startServer({ logger });
    h2 = openRawH2(server.url);
  });
  after(async () => {
    h2.close();
    await server.close();
  });

  const protocols: Record<string, Caller> = {
    "gRPC (h2c)": async (path, message) => {
      const res = await h2.post(path, envelope(message));
      return grpcStatus(res);
    },
    "gRPC-Web (HTTP/1.1)": async (path, message) => {
      const res = await post(server.url + path, "application/grpc-web+proto", envelope(message));
      const trailers = grpcWebTrailers(new Uint8Array(await res.arrayBuffer())) ?? {};
      return {
        code: Number(trailers["grpc-status"] ?? res.headers.get("grpc-status")),
        message: decodeURIComponent(trailers["grpc-message"] ?? ""),
      };
    },
    "Connect (HTTP/1.1)": async (path, message, streaming) => {
      if (!streaming) {
        const res = await post(server.url + path, "application/proto", message);
        const error = (await res.json()) as { code: string; message: string };
        assert.equal(res.status, 400, "HTTP 400 Bad Request");
        return error;
      }
      const res = await post(server.url + path, "application/connect+proto", envelope(message));
      const [end] = parseEnvelopes(new Uint8Array(await res.arrayBuffer())).envelopes;
      assert.equal(end?.flags, 2, "an end-stream message");
      return JSON.parse(Buffer.from(end.data).toString("utf8")).error;
    },
  };

  for (const [protocol, call] of Object.entries(protocols)) {
    for (const [kind, path] of Object.entries(methods)) {
      for (const [name, body] of Object.entries(bodies)) {
        it(`${protocol}, ${kind}, ${name}: InvalidArgument`, async () => {
          const outcome = await call(path, body, kind !== "unary");
          const expected = protocol.startsWith("Connect") ? "invalid_argument" : 3;
          assert.equal(outcome.code, expected, JSON.stringify(outcome));
          assert.match(outcome.message, /parse binary/);
        });
      }
    }
  }

  it("logged none of them at error level; the streams' at debug level", async () => {
    await assertStillServes(server);
    assert.deepEqual(
      log.filter((l) => l.level >= 50),
      [],
    );
    const rejected = log.filter((l) => l.level === 20 && /rejected/.test(l.msg));
    // Streams: three protocols, two bodies. Unary: the fast path's gRPC and
    // gRPC-Web calls (two bodies each) are logged like streams; Connect's
    // unary protocol is refused by Connect before any interceptor runs.
    assert.equal(rejected.length, 10, JSON.stringify(rejected));
    assert.equal(server.rooms.subscriberCount(), 0);
  });
});

function post(url: string, contentType: string, body: Uint8Array): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": contentType },
    body: new Uint8Array(body),
    signal: AbortSignal.timeout(3000),
  });
}
