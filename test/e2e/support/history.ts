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
