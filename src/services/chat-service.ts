import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { ChatRooms, ReplayFrom } from "../core/chat-rooms.ts";
import {
  type ChatRequest,
  type ChatResponseSchema,
  type ChatService,
  GetHistoryResponseSchema,
  type SendRequest,
  type SendResponse,
  SendResponseSchema,
} from "../gen/chat/v1/chat_pb.ts";
import type { ChatLimits } from "./limits.ts";
import { merge } from "./merge.ts";
import { validatePageSize, validateRoom, validateSend } from "./validate.ts";

const defaultHistoryPage = 50;

type ChatResponseInit = MessageInitShape<typeof ChatResponseSchema>;

/** chat.v1.ChatService on top of the shared chat core. */
export function createChatService(
  rooms: ChatRooms,
  limits: ChatLimits,
): ServiceImpl<typeof ChatService> {
  async function send(req: SendRequest): Promise<SendResponse> {
    validateSend(req, limits);
    const message = await rooms.send(req);
    return create(SendResponseSchema, {
      seq: message.seq,
      sentAt: message.sentAt,
      clientId: message.clientId,
    });
  }

  async function* acknowledge(
    requests: AsyncIterable<ChatRequest>,
    room: string,
  ): AsyncGenerator<ChatResponseInit> {
    for await (const req of requests) {
      if (req.kind.case !== "send") {
        throw new ConnectError(
          "only the first Chat request may be subscribe",
          Code.InvalidArgument,
        );
      }
      const input = req.kind.value;
      const sent = await send(input.room === "" ? { ...input, room } : input);
      yield { kind: { case: "sent", value: sent } };
    }
  }

  async function* events(
    room: string,
    from: ReplayFrom,
    signal: AbortSignal,
  ): AsyncGenerator<ChatResponseInit> {
    for await (const event of rooms.subscribe(room, from, signal)) {
      yield { kind: { case: "event", value: event } };
    }
  }

  return {
    send,

    async *subscribe(req, ctx) {
      validateRoom(req.room);
      if (req.start.case === "last") validatePageSize(req.start.value, limits, "last");
      for await (const event of rooms.subscribe(req.room, req.start, ctx.signal)) {
        yield { event };
      }
    },

    async *chat(requests, ctx) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done) return;
      if (first.value.kind.case !== "subscribe") {
        throw new ConnectError("the first Chat request must be subscribe", Code.InvalidArgument);
      }
      const sub = first.value.kind.value;
      validateRoom(sub.room);
      if (sub.start.case === "last") validatePageSize(sub.start.value, limits, "last");
      const rest: AsyncIterable<ChatRequest> = { [Symbol.asyncIterator]: () => iterator };
      yield* merge(events(sub.room, sub.start, ctx.signal), acknowledge(rest, sub.room));
    },

    async getHistory(req) {
      validateRoom(req.room);
      validatePageSize(req.limit, limits, "limit");
      const limit = req.limit === 0 ? defaultHistoryPage : req.limit;
      const messages = await rooms.history(req.room, req.beforeSeq, limit);
      const oldest = messages[0]?.seq ?? 0n;
      return create(GetHistoryResponseSchema, {
        messages,
        nextBeforeSeq: messages.length === limit && oldest > 1n ? oldest : 0n,
      });
    },
  };
}
