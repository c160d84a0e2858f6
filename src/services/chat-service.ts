import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { ChatRooms } from "../core/chat-rooms.ts";
import {
  type ChatRequest,
  type ChatResponseSchema,
  type ChatService,
  type Event,
  GetHistoryRequestSchema,
  GetHistoryResponseSchema,
  ListMembersRequestSchema,
  type SendRequest,
  SendRequestSchema,
  type SendResponse,
  SendResponseSchema,
  type SetTypingRequest,
  SetTypingRequestSchema,
  type SubscribeRequest,
  SubscribeRequestSchema,
} from "../gen/chat/v1/chat_pb.ts";
import type { ChatLimits } from "./limits.ts";
import { merge } from "./merge.ts";
import { validateRequest, validateTextSize } from "./validate.ts";

const defaultHistoryPage = 50;

type ChatResponseInit = MessageInitShape<typeof ChatResponseSchema>;

/** chat.v1.ChatService on top of the shared chat core. */
export function createChatService(
  rooms: ChatRooms,
  limits: ChatLimits,
): ServiceImpl<typeof ChatService> {
  async function send(req: SendRequest): Promise<SendResponse> {
    validateRequest(SendRequestSchema, req);
    validateTextSize(req.text, limits);
    const { message, duplicate } = await rooms.send(req);
    return create(SendResponseSchema, {
      seq: message.seq,
      sentAt: message.sentAt,
      clientId: message.clientId,
      duplicate,
    });
  }

  function setTyping(req: SetTypingRequest): void {
    validateRequest(SetTypingRequestSchema, req);
    rooms.setTyping(req.room, req.name, req.typing);
  }

  function events(req: SubscribeRequest, signal: AbortSignal) {
    validateRequest(SubscribeRequestSchema, req);
    return rooms.subscribe({
      room: req.room,
      from: req.start,
      epoch: req.epoch,
      name: req.name,
      signal,
    });
  }

  /** The sends and typing notices of a Chat stream; an empty room means the subscribed one. */
  async function* requests(
    stream: AsyncIterable<ChatRequest>,
    sub: SubscribeRequest,
  ): AsyncGenerator<ChatResponseInit> {
    for await (const req of stream) {
      const { kind } = req;
      if (kind.case === "send") {
        const sent = await send({ ...kind.value, room: kind.value.room || sub.room });
        yield { kind: { case: "sent", value: sent } };
      } else if (kind.case === "typing") {
        setTyping({
          ...kind.value,
          room: kind.value.room || sub.room,
          name: kind.value.name || sub.name,
        });
      } else {
        throw new ConnectError(
          "only the first Chat request may be subscribe",
          Code.InvalidArgument,
        );
      }
    }
  }

  async function* wrap(source: AsyncIterable<Event>): AsyncGenerator<ChatResponseInit> {
    for await (const event of source) yield { kind: { case: "event", value: event } };
  }

  return {
    send,

    async *subscribe(req, ctx) {
      for await (const event of events(req, ctx.signal)) yield { event };
    },

    async *chat(stream, ctx) {
      const iterator = stream[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done) return;
      if (first.value.kind.case !== "subscribe") {
        throw new ConnectError("the first Chat request must be subscribe", Code.InvalidArgument);
      }
      const sub = first.value.kind.value;
      const rest: AsyncIterable<ChatRequest> = { [Symbol.asyncIterator]: () => iterator };
      yield* merge<ChatResponseInit>(wrap(events(sub, ctx.signal)), requests(rest, sub));
    },

    async getHistory(req) {
      validateRequest(GetHistoryRequestSchema, req);
      const limit = req.limit === 0 ? defaultHistoryPage : req.limit;
      const messages = await rooms.history(req.room, req.beforeSeq, limit);
      const oldest = messages[0]?.seq ?? 0n;
      return create(GetHistoryResponseSchema, {
        messages,
        nextBeforeSeq: messages.length === limit && oldest > 1n ? oldest : 0n,
      });
    },

    async listMembers(req) {
      validateRequest(ListMembersRequestSchema, req);
      return { members: rooms.members(req.room) };
    },

    async setTyping(req) {
      setTyping(req);
      return {};
    },
  };
}
