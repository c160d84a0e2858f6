import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import type { BuildOptions } from "../../../src/app.ts";
import { ChatService } from "../../../src/gen/chat/v1/chat_pb.ts";
import { eventually, startServer, type TestServer } from "../../support/server.ts";
import { createTestTransport } from "./clients.ts";
import { subscribe } from "./subscribe.ts";

/** Runs `body` against a fresh server, which is closed afterwards whatever happens. */
export async function withServer(
  body: (server: TestServer) => Promise<void>,
  options: BuildOptions = {},
): Promise<void> {
  const server = await startServer(options);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

let checks = 0;

/**
 * Asserts that a well-behaved client, on a connection of its own, can still
 * Subscribe and Send, and that once it has gone no subscription is left open
 * anywhere on the server: whatever came before did not hurt the others.
 */
export async function assertStillServes(server: TestServer): Promise<void> {
  const room = `check-${++checks}`;
  const { transport, close } = createTestTransport(server.url, "grpc");
  try {
    const client = createClient(ChatService, transport);
    const sub = subscribe(client, { room });
    try {
      await sub.waitForReady(3000);
      const sent = await client.send(
        { room, sender: "checker", text: "still serving" },
        { signal: AbortSignal.timeout(3000) },
      );
      const [message] = await sub.waitForMessages(1, 3000);
      assert.equal(message?.seq, sent.seq);
    } finally {
      await sub.cancel();
    }
  } finally {
    close();
  }
  await eventually(() => server.rooms.subscriberCount() === 0, 3000, "no subscription left open");
}
