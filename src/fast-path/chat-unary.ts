import type { ChatRooms } from "../core/chat-rooms.ts";
import { ChatService } from "../gen/chat/v1/chat_pb.ts";
import { ChatServer } from "../gen/grpc/chat_pb.ts";
import { createChatCalls } from "../services/chat-service.ts";
import type { ChatLimits } from "../services/limits.ts";
import { createSendNote } from "../services/seed-chat-server.ts";
import type { FastUnaryMethod } from "./unary-call.ts";

/**
 * The chat's unary calls that carry traffic, as the fast path serves them:
 * the seed's SendNote and chat.v1's Send and SetTyping. Each calls the same
 * function as its Connect handler (src/services/), so both paths mean the
 * same; the protocol tests run both. The other unary methods (GetHistory,
 * ListMembers, health) are rare and stay with Connect.
 */
export function chatUnaryMethods(
  rooms: ChatRooms,
  seedRoom: string,
  limits: ChatLimits,
): FastUnaryMethod[] {
  const calls = createChatCalls(rooms, limits);
  const sendNote = createSendNote(rooms, seedRoom, limits);
  const methods = [
    {
      method: ChatServer.method.sendNote,
      handle: async (note, identity) => {
        await sendNote(note, identity);
        return {};
      },
    } satisfies FastUnaryMethod<typeof ChatServer.method.sendNote.input>,
    {
      method: ChatService.method.send,
      handle: (req, identity) => calls.send(req, identity),
    } satisfies FastUnaryMethod<typeof ChatService.method.send.input>,
    {
      method: ChatService.method.setTyping,
      handle: (req, identity) => {
        calls.setTyping(req, identity);
        return {};
      },
    } satisfies FastUnaryMethod<typeof ChatService.method.setTyping.input>,
  ];
  return methods as unknown as FastUnaryMethod[];
}
