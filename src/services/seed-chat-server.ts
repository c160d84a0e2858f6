import type { ServiceImpl } from "@connectrpc/connect";
import type { ChatRooms } from "../core/chat-rooms.ts";
import type { ChatServer } from "../gen/grpc/chat_pb.ts";
import type { ChatLimits } from "./limits.ts";
import { validateTextSize } from "./validate.ts";

/**
 * The seed's `grpc.ChatServer`, with the seed's semantics: ChatStream replays
 * every retained note and then streams new ones; SendNote appends and returns
 * Empty. Notes live in `room`, so chat.v1 clients of that room see them and
 * the other way round.
 */
export function createSeedChatServer(
  rooms: ChatRooms,
  room: string,
  limits: ChatLimits,
): ServiceImpl<typeof ChatServer> {
  return {
    async *chatStream(_req, ctx) {
      const all = { case: "afterSeq", value: 0n } as const;
      for await (const event of rooms.subscribe({ room, from: all, signal: ctx.signal })) {
        if (event.kind.case !== "message") continue;
        const { sender, text } = event.kind.value;
        yield { name: sender, message: text };
      }
    },

    async sendNote(note) {
      // The seed accepted any note; only the size is bounded here.
      validateTextSize(note.message, limits);
      await rooms.send({ room, sender: note.name, text: note.message, clientId: "" });
      return {};
    },
  };
}
