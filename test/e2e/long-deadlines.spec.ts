/**
 * Deadlines too long for a timer: `grpc-timeout: 1000H` and friends are
 * valid and mean "practically none". They once ended every call with
 * DeadlineExceeded within milliseconds (a setTimeout over 2^31-1 ms fires
 * after 1 ms) and printed a TimeoutOverflowWarning each time.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { clampConnectTimeout, clampGrpcTimeout } from "../../src/http/clamp-deadlines.ts";
import { startServer, type TestServer } from "../support/server.ts";
import { createTestTransport, type TransportKind } from "../support/transports.ts";

const cases: { kind: TransportKind; header: string; value: string }[] = [
  { kind: "grpc", header: "grpc-timeout", value: "1000H" },
  { kind: "grpc", header: "grpc-timeout", value: "2147484S" },
  { kind: "grpcweb-h1", header: "grpc-timeout", value: "99999999M" },
  { kind: "connect-h1", header: "connect-timeout-ms", value: "9999999999" },
];

describe("deadlines longer than a timer can hold", () => {
  let server: TestServer;
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  before(async () => {
    process.on("warning", onWarning);
    server = await startServer();
  });
  after(async () => {
    await server.close();
    process.off("warning", onWarning);
  });

  for (const [i, { kind, header, value }] of cases.entries()) {
    it(`${header}: ${value} over ${kind}: Send succeeds, a stream stays open and delivers`, async () => {
      const { transport, close } = createTestTransport(server.url, kind);
      const client = createClient(ChatService, transport);
      const room = `deadline-${i}`;
      const headers = { [header]: value };
      const abort = new AbortController();
      try {
        const sent = await client.send({ room, sender: "s", text: "one" }, { headers });
        assert.equal(sent.seq, 1n);

        const seen: bigint[] = [];
        const stream = (async () => {
          const request = { room, start: { case: "afterSeq", value: 0n } } as const;
          for await (const res of client.subscribe(request, { headers, signal: abort.signal })) {
            if (res.event?.kind.case === "message") seen.push(res.event.kind.value.seq);
            if (seen.length === 2) return "delivered";
          }
          return "ended";
        })();
        const early = await Promise.race([stream, sleep(150).then(() => "open")]);
        assert.equal(early, "open", "the stream is still open after 150 ms");
        await client.send({ room, sender: "s", text: "two" }, { headers });
        assert.equal(await stream, "delivered");
        assert.deepEqual(seen, [1n, 2n]);
      } finally {
        abort.abort();
        close();
      }
      assert.deepEqual(
        warnings.filter((w) => w.startsWith("TimeoutOverflowWarning")),
        [],
      );
    });
  }
});

describe("clamping", () => {
  it("leaves deadlines a timer can hold, and malformed values, as they are", () => {
    for (const v of ["1S", "100m", "35791M", "596H", "2147483S", "99999999n", "1.5S", "x"]) {
      assert.equal(clampGrpcTimeout(v), v);
    }
    for (const v of ["0", "2147483647", "12345678901", "-1"]) {
      assert.equal(clampConnectTimeout(v), v);
    }
  });

  it("cuts longer ones to 2^31-1 ms", () => {
    assert.equal(clampGrpcTimeout("597H"), "2147483S");
    assert.equal(clampGrpcTimeout("2147484S"), "2147483S");
    assert.equal(clampConnectTimeout("2147483648"), "2147483647");
    assert.equal(clampConnectTimeout("9999999999"), "2147483647");
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
