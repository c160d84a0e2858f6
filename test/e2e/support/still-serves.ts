import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { ChatService } from "../../../src/gen/chat/v1/chat_pb.ts";
import { eventually, type TestServer } from "../../support/server.ts";
import { createTestTransport } from "../../support/transports.ts";
import { subscribe } from "./subscribe.ts";

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
