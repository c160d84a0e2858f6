import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { ChatService, SubscribeResponseSchema } from "../../src/gen/chat/v1/chat_pb.ts";
import { eventually, type TestServer, withServer } from "../support/server.ts";
import { createTestTransport } from "../support/transports.ts";
import { parseEnvelopes } from "./support/envelope.ts";
import { openRawH2, rawSubscribe } from "./support/raw-h2.ts";
import { assertStillServes } from "./support/still-serves.ts";
import { subscribe } from "./support/subscribe.ts";

// A subscriber that stops reading must not hold up the room: once what
// waits for it (subscriberBufferBytes, counting what HTTP/2 flow control
// holds back) is over budget, it is cut off with RESOURCE_EXHAUSTED and told
// where to resume, while everyone else gets every message.

const room = "slow";
const text = "x".repeat(1024);

/** A gRPC Subscribe on a raw h2 stream that we do not read until `readAll`. */
function stalledSubscribe(server: TestServer) {
  // A 64 KiB stream window (HTTP/2's default, stated for clarity): the server
  // can push only that much before it has to wait for us.
  const h2 = openRawH2(server.url, { settings: { initialWindowSize: 65_535 } });
  const sub = rawSubscribe(h2.session, room);
  const { stream } = sub;
  return {
    /** Reads everything the server had queued for us, up to the end of the stream. */
    async readAll(ms: number) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      await eventually(() => stream.closed, ms, "the stalled stream to end");
      const seqs: bigint[] = [];
      for (const { data } of parseEnvelopes(Buffer.concat(chunks)).envelopes) {
        const kind = fromBinary(SubscribeResponseSchema, data).event?.kind;
        if (kind?.case === "message") seqs.push(kind.value.seq);
      }
      return { seqs, trailers: sub.trailers };
    },
    close: () => h2.close(),
  };
}

describe("a subscriber that stops reading", () => {
  it("is cut off with RESOURCE_EXHAUSTED and a resume point, resumes without loss; the others get everything", (t) =>
    withServer(
      async (server) => {
        const stalled = stalledSubscribe(server);
        const grpc = createTestTransport(server.url, "grpc");
        const client = createClient(ChatService, grpc.transport);
        const normal = subscribe(client, { room });
        try {
          await eventually(() => server.rooms.subscriberCount(room) === 2, 3000, "2 subscribers");
          await normal.waitForReady();

          // One chatty sender, each message after the previous one's ack.
          const count = 600;
          let cutAfter = 0;
          for (let i = 1; i <= count; i++) {
            await client.send({ room, sender: "s", text }, { signal: AbortSignal.timeout(3000) });
            if (cutAfter === 0 && server.rooms.subscriberCount(room) === 1) cutAfter = i;
          }
          t.diagnostic(`stalled subscriber cut off after ${cutAfter} of ${count} messages`);
          assert.ok(cutAfter > 0, "the stalled subscriber was never cut off");

          const seen = await normal.waitForMessages(count, 10_000);
          assert.deepEqual(
            seen.map((m) => m.seq),
            Array.from({ length: count }, (_, i) => BigInt(i + 1)),
          );
          assert.equal(server.rooms.subscriberCount(room), 1, "only the reading one is left");

          const { seqs, trailers } = await stalled.readAll(5000);
          assert.equal(trailers["grpc-status"], "8", JSON.stringify(trailers));
          // It got a gapless prefix, and is told to resume right after it.
          assert.ok(seqs.length > 0 && seqs.length < count, `${seqs.length} messages`);
          assert.deepEqual(
            seqs,
            Array.from({ length: seqs.length }, (_, i) => BigInt(i + 1)),
          );
          assert.equal(trailers["chat-resume-after-seq"], String(seqs.at(-1)));

          // Resuming from there loses nothing: it gets exactly the rest.
          const resumeAfter = BigInt(trailers["chat-resume-after-seq"] as string);
          const resumed = subscribe(client, {
            room,
            start: { case: "afterSeq", value: resumeAfter },
          });
          try {
            const rest = await resumed.waitForMessages(count - seqs.length, 10_000);
            assert.deepEqual(
              [...seqs, ...rest.map((m) => m.seq)],
              Array.from({ length: count }, (_, i) => BigInt(i + 1)),
            );
          } finally {
            await resumed.cancel();
          }
        } finally {
          await normal.cancel();
          stalled.close();
          grpc.close();
        }
        await assertStillServes(server);
      },
      { subscriberBuffer: 64, subscriberBufferBytes: 64 * 1024 },
    ));

  it("does not happen to a reading gRPC client that accepts gzip, with 8 senders at once", () =>
    withServer(
      async (server) => {
        // connect-node's default client offers gzip, as grpc-js does.
        const grpc = createTestTransport(server.url, "grpc");
        const client = createClient(ChatService, grpc.transport);
        const reader = subscribe(client, { room });
        try {
          await reader.waitForReady();
          const count = 600;
          let next = 1;
          const sender = async () => {
            while (next <= count) {
              next++;
              await client.send({ room, sender: "s", text }, { signal: AbortSignal.timeout(3000) });
            }
          };
          await Promise.all(Array.from({ length: 8 }, sender));
          assert.equal((await reader.waitForMessages(count, 5000)).length, count);
        } finally {
          await reader.cancel();
          grpc.close();
        }
      },
      { subscriberBuffer: 64, subscriberBufferBytes: 64 * 1024 },
    ));
});
