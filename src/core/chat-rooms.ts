import { create } from "@bufbuild/protobuf";
import { type Event, EventSchema, type Message } from "../gen/chat/v1/chat_pb.ts";
import { FellBehindError, SeqAheadError, SubscriberOverflowError } from "./errors.ts";
import type { EventBus } from "./event-bus.ts";
import type { MessageStore, NewMessage } from "./message-store.ts";

/** Where a subscription's replay starts. */
export type ReplayFrom =
  | { case: "afterSeq"; value: bigint }
  | { case: "last"; value: number }
  | { case: undefined; value?: undefined };

/**
 * The chat logic shared by every API (the seed's ChatServer and chat.v1):
 * send through the store and the bus, subscribe with replay then live events.
 * Knows nothing of RPC protocols or runtimes.
 */
export interface ChatRooms {
  send(message: NewMessage): Promise<Message>;
  /**
   * Replays history from `from`, then an `Event.ready`, then live events,
   * with no gap and no duplicate between replay and live. Ends when `signal`
   * aborts (throwing its reason) or when the subscriber falls too far behind
   * (throwing a `FellBehindError`). Throws `SeqAheadError` for a position
   * the room has not reached.
   */
  subscribe(room: string, from: ReplayFrom, signal: AbortSignal): AsyncIterable<Event>;
  /** A page of history before `beforeSeq` (0n: the newest), oldest first. */
  history(room: string, beforeSeq: bigint, limit: number): Promise<Message[]>;
  /** Open subscriptions in a room, or in all rooms. */
  subscriberCount(room?: string): number;
}

export interface ChatRoomsOptions {
  store: MessageStore;
  bus: EventBus<Event>;
  /** Per-subscriber live buffer, see `SubscribeOptions.maxQueue`. */
  maxQueue?: number;
  /** Page size used while replaying long histories. Default 500. */
  replayPageSize?: number;
}

export function createChatRooms({
  store,
  bus,
  maxQueue,
  replayPageSize = 500,
}: ChatRoomsOptions): ChatRooms {
  return {
    async send(input) {
      const message = await store.append(input);
      bus.publish(message.room, create(EventSchema, { kind: { case: "message", value: message } }));
      return message;
    },

    async *subscribe(room, from, signal) {
      // Listen before reading history: anything appended from here on is
      // either in the replay or in the live queue (or both: dropped by seq).
      const live = bus.subscribe(room, { signal, maxQueue });
      let lastSeq = 0n;
      try {
        // `last` reads its one page backwards, complete up to the head at
        // that moment; `afterSeq` pages forwards until a short page. Either
        // way, anything newer is already in the live queue.
        let page: Message[] | undefined;
        if (from.case === "afterSeq") {
          const head = await store.headSeq(room);
          if (from.value > head) throw new SeqAheadError(from.value, head);
          lastSeq = from.value;
        } else if (from.case === "last") {
          page = await store.readBefore(room, 0n, from.value);
          lastSeq = page[0] !== undefined ? page[0].seq - 1n : await store.headSeq(room);
        } else {
          lastSeq = await store.headSeq(room);
          page = [];
        }
        for (;;) {
          const complete = page !== undefined;
          page ??= await store.readAfter(room, lastSeq, replayPageSize);
          for (const message of page) {
            signal.throwIfAborted();
            yield create(EventSchema, { kind: { case: "message", value: message } });
            lastSeq = message.seq;
          }
          if (complete || page.length < replayPageSize) break;
          page = undefined;
        }
        yield create(EventSchema, { kind: { case: "ready", value: { headSeq: lastSeq } } });
        for await (const event of live) {
          if (event.kind.case === "message") {
            if (event.kind.value.seq <= lastSeq) continue;
            lastSeq = event.kind.value.seq;
          }
          yield event;
        }
      } catch (e) {
        if (e instanceof SubscriberOverflowError) {
          throw new FellBehindError(lastSeq, e);
        }
        throw e;
      } finally {
        live.close();
      }
    },

    history(room, beforeSeq, limit) {
      return store.readBefore(room, beforeSeq, limit);
    },

    subscriberCount(room) {
      return bus.subscriberCount(room);
    },
  };
}
