import { create } from "@bufbuild/protobuf";
import {
  ChatService,
  type SubscribeRequestSchema,
  SubscribeResponseSchema,
} from "../gen/chat/v1/chat_pb.ts";
import { ChatServer, NoteSchema } from "../gen/grpc/chat_pb.ts";
import { subscribeParams } from "../services/chat-service.ts";
import { seedStreamParams } from "../services/seed-chat-server.ts";
import { createEventFrames } from "./event-frames.ts";
import type { FastStreamMethod } from "./register.ts";

/**
 * The chat's two live streams, as the fast path serves them. Each must mean
 * exactly what its Connect handler means (src/services/chat-service.ts,
 * seed-chat-server.ts); the protocol tests run both paths.
 */
export function chatStreamMethods(seedRoom: string): FastStreamMethod[] {
  const subscribe: FastStreamMethod<typeof SubscribeRequestSchema> = {
    method: ChatService.method.subscribe,
    params: subscribeParams,
    frames: createEventFrames(ChatService.method.subscribe, {
      // A message's response depends on the message only: replays of the
      // same stored message share one encoding too.
      key: (event) => (event.kind.case === "message" ? event.kind.value : event),
      response: (event) => create(SubscribeResponseSchema, { event }),
    }),
  };

  const chatStream: FastStreamMethod = {
    method: ChatServer.method.chatStream,
    // The seed's ChatStream: every retained note, then new ones.
    params: (_req, signal, identity) => seedStreamParams(seedRoom, signal, identity),
    frames: createEventFrames(ChatServer.method.chatStream, {
      key: (event) => (event.kind.case === "message" ? event.kind.value : undefined),
      response: (event) => {
        const message = event.kind.case === "message" ? event.kind.value : undefined;
        return create(NoteSchema, { name: message?.sender, message: message?.text });
      },
    }),
  };

  return [subscribe as unknown as FastStreamMethod, chatStream];
}
