import assert from "node:assert/strict";
import type { Client } from "@connectrpc/connect";
import type { ChatService, Message } from "../../../src/gen/chat/v1/chat_pb.ts";

/** Every retained message of `room`, oldest first, read with GetHistory page by page backwards. */
export async function fullHistory(
  client: Client<typeof ChatService>,
  room: string,
): Promise<Message[]> {
  const pages: Message[][] = [];
  let beforeSeq = 0n;
  do {
    const page = await client.getHistory({ room, beforeSeq, limit: 500 });
    pages.unshift(page.messages);
    beforeSeq = page.nextBeforeSeq;
  } while (beforeSeq !== 0n);
  return pages.flat();
}

/**
 * The history of `room` holds seqs 1..N, no client id twice, and each
 * acknowledged send (client id to seq) exactly once at its acknowledged seq;
 * returns it, for the caller to say what else it may hold.
 */
export async function assertEachAckOnce(
  client: Client<typeof ChatService>,
  room: string,
  acks: Iterable<[string, bigint]>,
): Promise<Message[]> {
  const history = await fullHistory(client, room);
  const n = history.length;
  assert.deepEqual(
    history.map((m) => m.seq),
    Array.from({ length: n }, (_, i) => BigInt(i + 1)),
    "the history: seqs 1..N",
  );
  const byClientId = new Map(history.map((m) => [m.clientId, m]));
  assert.equal(byClientId.size, n, "no client id stored twice");
  for (const [clientId, seq] of acks) {
    assert.equal(byClientId.get(clientId)?.seq, seq, `${clientId} at its acknowledged seq`);
  }
  return history;
}
