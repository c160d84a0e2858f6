import assert from "node:assert/strict";
import * as http from "node:http";
import { describe, it } from "node:test";
import { create, fromBinary, fromJsonString, toBinary } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport } from "@connectrpc/connect-node";
import {
  ChatService,
  SubscribeRequestSchema,
  SubscribeResponseSchema,
} from "../../src/gen/chat/v1/chat_pb.ts";
import { eventually, type TestServer, withServer } from "../support/server.ts";
import {
  allTransportKinds,
  createTestTransport,
  type TransportKind,
} from "../support/transports.ts";
import { envelope, grpcWebTrailers, parseEnvelopes } from "./support/envelope.ts";
import { expectError } from "./support/errors.ts";
import { openRawH2 } from "./support/raw-h2.ts";
import { assertStillServes } from "./support/still-serves.ts";
import { subscribe } from "./support/subscribe.ts";

// The streaming fast path (src/fast-path/) serves Subscribe and the seed's
// ChatStream outside Connect's pipeline. These tests pin down what it adds:
// frames coalesced per turn split correctly on every protocol, requests it
// does not serve still reach Connect, errors and deadlines are Connect's,
// and a reader that stops is cut off with its resume position on HTTP/1.1
// too. Leaving mid-write is covered by released-streams.spec.ts, which now
// runs through this path.

type Kind = TransportKind | "connect-json-h1";

function transportFor(server: TestServer, kind: Kind) {
  if (kind === "connect-json-h1") {
    return {
      transport: createConnectTransport({
        baseUrl: server.url,
        httpVersion: "1.1",
        useBinaryFormat: false,
      }),
      close() {},
    };
  }
  return createTestTransport(server.url, kind);
}

const kinds: Kind[] = [...allTransportKinds, "connect-json-h1"];

describe("the streaming fast path", () => {
  it("serves Subscribe on every protocol; frames written in one turn arrive whole and in order", () =>
    withServer(async (server) => {
      const room = "burst";
      const before = server.fastStreams.served();
      const clients = kinds.map((kind) => {
        const t = transportFor(server, kind);
        return { kind, t, sub: subscribe(createClient(ChatService, t.transport), { room }) };
      });
      try {
        for (const c of clients) await c.sub.waitForReady(3000);
        assert.equal(server.fastStreams.served() - before, kinds.length, "every one taken");
        // 300 sends started in one turn: their events are published within a
        // few turns, so each stream gets many frames per write, some large.
        const texts = Array.from({ length: 300 }, (_, i) => `${i}:${"é".repeat(i * 7)}`);
        await Promise.all(
          texts.map((text) => server.rooms.send({ room, sender: "b", text, clientId: "" })),
        );
        for (const c of clients) {
          const got = await c.sub.waitForMessages(texts.length, 5000);
          assert.deepEqual(
            got.map((m) => m.text),
            texts,
            `${c.kind}: every message, whole, in order`,
          );
        }
      } finally {
        for (const c of clients) {
          await c.sub.cancel();
          c.t.close();
        }
      }
      await eventually(() => server.streams.count() === 0, 2000, "streams released");
    }));

  it("leaves compressed requests to Connect, which serves them as before", () =>
    withServer(async (server) => {
      const before = server.fastStreams.served();
      const transport = createConnectTransport({
        baseUrl: server.url,
        httpVersion: "1.1",
        sendCompression: compressionGzip,
        compressMinBytes: 0,
      });
      const client = createClient(ChatService, transport);
      const sub = subscribe(client, { room: "gz" });
      try {
        await sub.waitForReady(3000);
        await client.send({ room: "gz", sender: "a", text: "compressed request" });
        const [m] = await sub.waitForMessages(1, 3000);
        assert.equal(m?.text, "compressed request");
        assert.equal(server.fastStreams.served(), before, "Connect served it");
        assert.equal(server.streams.count("chat.v1.ChatService/Subscribe"), 1);
      } finally {
        await sub.cancel();
      }
    }));

  for (const kind of kinds) {
    it(`answers bad requests, positions ahead and deadlines as Connect does (${kind})`, () =>
      withServer(async (server) => {
        const t = transportFor(server, kind);
        const client = createClient(ChatService, t.transport);
        const drain = async (req: Parameters<typeof client.subscribe>[0], timeoutMs?: number) => {
          for await (const _ of client.subscribe(req, { timeoutMs })) {
            // keep reading until the stream ends
          }
        };
        try {
          const bad = await expectError(() => drain({ room: "" }));
          assert.equal(bad.code, Code.InvalidArgument, bad.message);
          const ahead = await expectError(() =>
            drain({ room: "r", start: { case: "afterSeq", value: 5n } }),
          );
          assert.equal(ahead.code, Code.OutOfRange, ahead.message);
          const started = Date.now();
          const late = await expectError(() => drain({ room: "r" }, 300));
          assert.equal(late.code, Code.DeadlineExceeded, late.message);
          assert.ok(Date.now() - started >= 250, "not before its deadline");
        } finally {
          t.close();
        }
        await eventually(() => server.streams.count() === 0, 2000, "streams released");
      }));
  }

  it("answers an error before any event as a gRPC trailers-only response", () =>
    withServer(async (server) => {
      const h2 = openRawH2(server.url);
      try {
        const body = envelope(toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema)));
        const res = await h2.post("/chat.v1.ChatService/Subscribe", body);
        assert.equal(res.headers["grpc-status"], String(Code.InvalidArgument));
        assert.equal(res.headers["content-type"], "application/grpc+proto");
        assert.equal(res.body.length, 0);
        // Two request messages on a server stream: Connect's own answer.
        const two = await h2.post("/chat.v1.ChatService/Subscribe", Buffer.concat([body, body]));
        assert.equal(two.headers["grpc-status"], String(Code.Unimplemented));
      } finally {
        h2.close();
      }
    }));

  for (const protocol of ["connect", "grpc-web"] as const) {
    it(`cuts off a ${protocol} reader over HTTP/1.1 that stops reading, with its resume position`, () =>
      withServer(
        async (server) => {
          const room = `stop-${protocol}`;
          const req = create(SubscribeRequestSchema, { room });
          const stalled = http.request(`${server.url}/chat.v1.ChatService/Subscribe`, {
            method: "POST",
            headers: {
              "content-type":
                protocol === "connect" ? "application/connect+proto" : "application/grpc-web+proto",
            },
          });
          const chunks: Buffer[] = [];
          const response = new Promise<http.IncomingMessage>((resolve) =>
            stalled.on("response", resolve),
          );
          stalled.end(envelope(toBinary(SubscribeRequestSchema, req)));
          const res = await response;
          res.pause();
          await eventually(() => server.rooms.subscriberCount(room) === 1, 3000, "subscribed");

          const text = "y".repeat(4000);
          let cutAfter = 0;
          for (let i = 1; i <= 2000 && cutAfter === 0; i++) {
            await server.rooms.send({ room, sender: "s", text, clientId: "" });
            if (server.rooms.subscriberCount(room) === 0) cutAfter = i;
          }
          assert.ok(cutAfter > 0, "the reader that stopped was never cut off");

          res.on("data", (c: Buffer) => chunks.push(c));
          res.resume();
          await new Promise((resolve) => res.on("end", resolve));
          const body = Buffer.concat(chunks);
          const seqs: bigint[] = [];
          let status: string | undefined;
          let resumeAfter: string | undefined;
          for (const { flags, data } of parseEnvelopes(body).envelopes) {
            if (flags === 0) {
              const kind = fromBinary(SubscribeResponseSchema, data).event?.kind;
              if (kind?.case === "message") seqs.push(kind.value.seq);
            } else if (protocol === "connect") {
              const end = JSON.parse(Buffer.from(data).toString("utf8"));
              status = end.error?.code;
              resumeAfter = end.metadata?.["chat-resume-after-seq"]?.[0];
            }
          }
          if (protocol === "grpc-web") {
            const trailers = grpcWebTrailers(body);
            status = trailers?.["grpc-status"];
            resumeAfter = trailers?.["chat-resume-after-seq"];
          }
          assert.equal(
            status,
            protocol === "connect" ? "resource_exhausted" : String(Code.ResourceExhausted),
          );
          assert.ok(seqs.length > 0 && seqs.length < cutAfter, `${seqs.length} of ${cutAfter}`);
          assert.deepEqual(
            seqs,
            Array.from({ length: seqs.length }, (_, i) => BigInt(i + 1)),
            "a gapless prefix",
          );
          assert.equal(resumeAfter, String(seqs.at(-1)), "resume right after it");
          await assertStillServes(server);
        },
        { subscriberBufferBytes: 64 * 1024 },
      ));
  }

  it("refuses an oversized request over HTTP/1.1 with an end-stream error, not a reset", () =>
    withServer(async (server) => {
      const big = create(SubscribeRequestSchema, { room: "r", name: "n".repeat(70_000) });
      const res = await fetch(`${server.url}/chat.v1.ChatService/Subscribe`, {
        method: "POST",
        headers: { "content-type": "application/connect+proto" },
        body: new Uint8Array(envelope(toBinary(SubscribeRequestSchema, big))),
      });
      const { envelopes } = parseEnvelopes(new Uint8Array(await res.arrayBuffer()));
      assert.equal(envelopes.length, 1);
      assert.equal(envelopes[0]?.flags, 2);
      const end = JSON.parse(Buffer.from(envelopes[0]?.data ?? []).toString());
      assert.equal(end.error?.code, "resource_exhausted", JSON.stringify(end));
      await assertStillServes(server);
    }));

  it("encodes Connect JSON events as Connect's own JSON", () =>
    withServer(async (server) => {
      const room = "json";
      await server.rooms.send({ room, sender: "j", text: "ünïcode ✓", clientId: "c1" });
      const res = await fetch(`${server.url}/chat.v1.ChatService/Subscribe`, {
        method: "POST",
        headers: { "content-type": "application/connect+json", "connect-timeout-ms": "300" },
        body: new Uint8Array(envelope(Buffer.from(JSON.stringify({ room, afterSeq: "0" })))),
      });
      assert.equal(res.headers.get("content-type"), "application/connect+json");
      const { envelopes } = parseEnvelopes(new Uint8Array(await res.arrayBuffer()));
      const first = envelopes[0];
      assert.ok(first !== undefined && first.flags === 0);
      const msg = fromJsonString(SubscribeResponseSchema, Buffer.from(first.data).toString());
      assert.equal(msg.event?.kind.case, "message");
      assert.equal(msg.event?.kind.value?.text, "ünïcode ✓");
      const end = envelopes.at(-1);
      assert.equal(end?.flags, 2);
      const endJson = JSON.parse(Buffer.from(end?.data ?? []).toString());
      assert.equal(endJson.error?.code, "deadline_exceeded");
    }));
});
