import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { startServer } from "../support/server.ts";
import { createTestTransport, type TransportKind } from "../support/transports.ts";

// A client that cancels a stream and keeps its HTTP/2 connection open must
// not hold up the server's shutdown: close() ends within its grace
// (shutdownTimeoutMs) on every protocol. Connect and gRPC-Web over HTTP/2
// kept it waiting for ever: the destroyed session's socket was never closed.

describe("close() with clients that keep their connections", () => {
  for (const kind of ["grpc", "connect-h2", "grpcweb-h2"] as TransportKind[]) {
    it(`ends within the grace after a cancelled stream (${kind})`, {
      timeout: 10_000,
    }, async () => {
      const server = await startServer({ shutdownTimeoutMs: 300 });
      const t = createTestTransport(server.url, kind);
      try {
        const chat = createClient(ChatService, t.transport);
        for await (const res of chat.subscribe({ room: "r" })) {
          assert.equal(res.event?.kind.case, "ready");
          break;
        }
        const started = Date.now();
        await server.close();
        const took = Date.now() - started;
        assert.ok(took < 3000, `close() took ${took} ms`);
      } finally {
        t.close();
      }
    });
  }
});
