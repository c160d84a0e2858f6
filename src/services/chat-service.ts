import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { checkRead, checkSend, checkSubscribe, checkTyping } from "../auth/checks.ts";
import { identityKey } from "../auth/context.ts";
import type { Identity } from "../auth/identity.ts";
import type { ChatRooms, SubscribeParams } from "../core/chat-rooms.ts";
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
import { merge } from "../util/merge.ts";
import type { ChatLimits } from "./limits.ts";
import { validateRequest, validateTextSize } from "./validate.ts";

const defaultHistoryPage = 50;

type ChatResponseInit = MessageInitShape<typeof ChatResponseSchema>;

/**
 * The subscription a chat.v1 Subscribe (or the first request of Chat) asks
 * for, as the caller may have it: read access to the room, and a presence
 * name that is the caller's own (see `checkSubscribe`). Throws
 * PermissionDenied or InvalidArgument. The Connect handlers and the
 * streaming fast path both call this, so both mean the same.
 */
export function subscribeParams(
  req: SubscribeRequest,
  signal: AbortSignal,
  identity: Identity | undefined,
): SubscribeParams {
  const name = checkSubscribe(identity, req.room, req.name);
  validateRequest(SubscribeRequestSchema, req);
  return { room: req.room, from: req.start, epoch: req.epoch, name, signal };
}

/** chat.v1's Send and SetTyping for a caller (`identity`; undefined: auth off). */
export interface ChatCalls {
  send(req: SendRequest, identity: Identity | undefined): Promise<SendResponse>;
  setTyping(req: SetTypingRequest, identity: Identity | undefined): void;
}

/**
 * Send and SetTyping as the caller may make them: the sender and typing
 * names are the caller's own (see `checkSend`, `checkTyping`), the request
 * is valid and within the limits. Shared by the Connect handlers, the Chat
 * stream and the unary fast path, so all three mean the same.
 */
export function createChatCalls(rooms: ChatRooms, limits: ChatLimits): ChatCalls {
  async function send(req: SendRequest, identity: Identity | undefined): Promise<SendResponse> {
    const checked = { ...req, sender: checkSend(identity, req.room, req.sender) };
    validateRequest(SendRequestSchema, checked);
    validateTextSize(req.text, limits);
    const { message, duplicate } = await rooms.send(checked);
    return create(SendResponseSchema, {
      seq: message.seq,
      sentAt: message.sentAt,
      clientId: message.clientId,
      duplicate,
    });
  }

  function setTyping(req: SetTypingRequest, identity: Identity | undefined): void {
    const name = checkTyping(identity, req.room, req.name);
    validateRequest(SetTypingRequestSchema, { ...req, name });
    rooms.setTyping(req.room, name, req.typing);
  }

  return { send, setTyping };
}

/**
 * chat.v1.ChatService on top of the shared chat core. With auth on, the
 * caller's identity (context value `identityKey`) decides the sender,
 * presence and typing names and which rooms it may read and write; see
 * `src/auth/checks.ts`.
 */
export function createChatService(
  rooms: ChatRooms,
  limits: ChatLimits,
): ServiceImpl<typeof ChatService> {
  const { send, setTyping } = createChatCalls(rooms, limits);

  /** The subscription a request asks for, with the presence name the caller may use. */
  function events(req: SubscribeRequest, signal: AbortSignal, identity: Identity | undefined) {
    const params = subscribeParams(req, signal, identity);
    return { name: params.name ?? "", events: rooms.subscribe(params) };
  }

  /** The sends and typing notices of a Chat stream; an empty room means the subscribed one. */
  async function* requests(
    stream: AsyncIterable<ChatRequest>,
    sub: SubscribeRequest,
    identity: Identity | undefined,
  ): AsyncGenerator<ChatResponseInit> {
    for await (const req of stream) {
      const { kind } = req;
      if (kind.case === "send") {
        const sent = await send({ ...kind.value, room: kind.value.room || sub.room }, identity);
        yield { kind: { case: "sent", value: sent } };
      } else if (kind.case === "typing") {
        setTyping(
          { ...kind.value, room: kind.value.room || sub.room, name: kind.value.name || sub.name },
          identity,
        );
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
    send: (req, ctx) => send(req, ctx.values.get(identityKey)),

    async *subscribe(req, ctx) {
      for await (const event of events(req, ctx.signal, ctx.values.get(identityKey)).events) {
        yield { event };
      }
    },

    async *chat(stream, ctx) {
      const iterator = stream[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done) return;
      if (first.value.kind.case !== "subscribe") {
        throw new ConnectError("the first Chat request must be subscribe", Code.InvalidArgument);
      }
      const identity = ctx.values.get(identityKey);
      const requested = first.value.kind.value;
      // The subscription ends with the call, however the call ends: when the
      // request side fails (a refused send), the live side is suspended on
      // its queue and would otherwise hold the subscription and presence
      // until the room's next event or heartbeat.
      const call = new AbortController();
      const end = () => call.abort(ctx.signal.reason);
      ctx.signal.addEventListener("abort", end, { once: true });
      try {
        const subscription = events(requested, call.signal, identity);
        const sub = { ...requested, name: subscription.name };
        const rest: AsyncIterable<ChatRequest> = { [Symbol.asyncIterator]: () => iterator };
        yield* merge<ChatResponseInit>(wrap(subscription.events), requests(rest, sub, identity));
      } finally {
        ctx.signal.removeEventListener("abort", end);
        call.abort(new ConnectError("the call ended", Code.Canceled));
      }
    },

    async getHistory(req, ctx) {
      checkRead(ctx.values.get(identityKey), req.room);
      validateRequest(GetHistoryRequestSchema, req);
      const limit = req.limit === 0 ? defaultHistoryPage : req.limit;
      const messages = await rooms.history(req.room, req.beforeSeq, limit);
      const oldest = messages[0]?.seq ?? 0n;
      return create(GetHistoryResponseSchema, {
        messages,
        nextBeforeSeq: messages.length === limit && oldest > 1n ? oldest : 0n,
      });
    },

    async listMembers(req, ctx) {
      checkRead(ctx.values.get(identityKey), req.room);
      validateRequest(ListMembersRequestSchema, req);
      return { members: await rooms.members(req.room) };
    },

    async setTyping(req, ctx) {
      setTyping(req, ctx.values.get(identityKey));
      return {};
    },
  };
}
