import type { Event, Member, Message } from "../gen/chat/v1/chat_pb.ts";
import { event } from "./event.ts";
import type { EventBus } from "./event-bus.ts";
import type { EventSink } from "./event-sink.ts";
import { feedIterable } from "./feed-iterable.ts";
import type { AppendResult, MessageStore, NewMessage } from "./message-store.ts";
import { createPresence, type Presence } from "./presence.ts";
import { type FeedContext, runFeed, type SubscribeParams } from "./room-feed.ts";
import { createTypingThrottle } from "./typing-throttle.ts";

/** Default live events held per subscriber, see `ChatRoomsOptions.maxQueue`. */
export const defaultMaxQueue = 1024;

/** Default quiet time before a heartbeat, see `ChatRoomsOptions.heartbeatMs`. */
export const defaultHeartbeatMs = 15_000;

export type { ReplayFrom, SubscribeParams } from "./room-feed.ts";

/**
 * The chat logic shared by every API (the seed's ChatServer and chat.v1):
 * send through the store and the bus, subscribe with replay then live
 * events, presence and typing. Knows nothing of RPC protocols or runtimes.
 */
export interface ChatRooms {
  /** Stores and publishes a message; a retry of a stored client id publishes nothing. */
  send(message: NewMessage): Promise<AppendResult>;
  /**
   * Replays history, then an `Event.ready`, then live events, with no gap
   * and no duplicate between replay and live. History that retention removed
   * is announced with `Event.gap`, a history that is not the one the client
   * resumes from with `Event.reset`: never a silently partial replay.
   * Ends when `signal` aborts (throwing its reason) or when the subscriber
   * falls too far behind (`FellBehindError`). Throws `SeqAheadError` for a
   * position the room has not reached.
   */
  subscribe(params: SubscribeParams): AsyncIterable<Event>;
  /**
   * The same events pushed into `sink` as they happen, for consumers that
   * write them out in place (the streaming fast path). See `runFeed`: never
   * resolves; rejects when the subscription ends.
   */
  feed(params: SubscribeParams, sink: EventSink): Promise<never>;
  /** A page of history before `beforeSeq` (0n: the newest), oldest first. */
  history(room: string, beforeSeq: bigint, limit: number): Promise<Message[]>;
  /** Who is in the room now. */
  members(room: string): Promise<Member[]>;
  /** Tells the room's subscribers that `name` started or stopped typing. Not stored. */
  setTyping(room: string, name: string, typing: boolean): void;
  /** Open subscriptions in a room, or in all rooms. */
  subscriberCount(room?: string): number;
}

export interface ChatRoomsOptions {
  store: MessageStore;
  bus: EventBus<Event>;
  /** Who is in which room; default: held in this process, announced on `bus`. */
  presence?: Presence;
  /**
   * Live events held per subscriber while it catches up from the store, and
   * the queue of a pulled subscription; a subscriber further behind is cut
   * off. Default 1024.
   */
  maxQueue?: number;
  /**
   * Page size used while replaying long histories. Default 100: a thousand
   * subscribers replaying at once each hold one page.
   */
  replayPageSize?: number;
  /** Heartbeat on a quiet live stream after this long; 0 disables. Default 15 s. */
  heartbeatMs?: number;
}

export function createChatRooms({
  store,
  bus,
  presence = createPresence({ bus }),
  maxQueue = defaultMaxQueue,
  replayPageSize = 100,
  heartbeatMs = defaultHeartbeatMs,
}: ChatRoomsOptions): ChatRooms {
  const typing = createTypingThrottle();
  const ctx: FeedContext = { store, bus, presence, maxQueue, replayPageSize, heartbeatMs };
  const feed = (params: SubscribeParams, sink: EventSink) => runFeed(ctx, params, sink);

  return {
    async send(input) {
      const result = await store.append(input);
      // Publish synchronously on resolution: appends of a room resolve in
      // seq order, so events are published in seq order. A store that
      // publishes in the append itself (Redis, atomically) is not repeated.
      if (!result.duplicate && !store.publishesAppends) {
        bus.publish(result.message.room, event({ case: "message", value: result.message }));
      }
      return result;
    },

    subscribe(params) {
      return feedIterable(maxQueue, params.signal, (sink, signal) =>
        feed({ ...params, signal }, sink),
      );
    },

    feed,

    history(room, beforeSeq, limit) {
      return store.readBefore(room, beforeSeq, limit);
    },

    members(room) {
      return presence.members(room);
    },

    setTyping(room, name, isTyping) {
      if (!typing.pass(room, name, isTyping)) return;
      bus.publish(room, event({ case: "typing", value: { name, typing: isTyping } }));
    },

    subscriberCount(room) {
      return bus.subscriberCount(room);
    },
  };
}
