import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type Event, EventSchema, type Member, type Message } from "../gen/chat/v1/chat_pb.ts";
import { FellBehindError, SeqAheadError, SubscriberOverflowError } from "./errors.ts";
import type { EventBus } from "./event-bus.ts";
import type { AppendResult, MessageStore, NewMessage } from "./message-store.ts";
import { createPresence } from "./presence.ts";

/** Where a subscription's replay starts. */
export type ReplayFrom =
  | { case: "afterSeq"; value: bigint }
  | { case: "last"; value: number }
  | { case: undefined; value?: undefined };

export interface SubscribeParams {
  room: string;
  from: ReplayFrom;
  /** The history epoch `from.afterSeq` belongs to, when the client knows it. */
  epoch?: string;
  /** Presence name; empty or absent: not listed. */
  name?: string;
  /** Ends the subscription: client gone, deadline or shutdown. */
  signal: AbortSignal;
}

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
  /** A page of history before `beforeSeq` (0n: the newest), oldest first. */
  history(room: string, beforeSeq: bigint, limit: number): Promise<Message[]>;
  /** Who is in the room now. */
  members(room: string): Member[];
  /** Tells the room's subscribers that `name` started or stopped typing. Not stored. */
  setTyping(room: string, name: string, typing: boolean): void;
  /** Open subscriptions in a room, or in all rooms. */
  subscriberCount(room?: string): number;
}

export interface ChatRoomsOptions {
  store: MessageStore;
  bus: EventBus<Event>;
  /** Per-subscriber live buffer, see `SubscribeOptions.maxQueue`. */
  maxQueue?: number;
  /**
   * Page size used while replaying long histories. Default 100: a thousand
   * subscribers replaying at once each hold one page.
   */
  replayPageSize?: number;
  /** Heartbeat on a quiet live stream after this long; 0 disables. Default 15 s. */
  heartbeatMs?: number;
}

/** Repeats of the same typing state pass at most this often per name. */
const typingRepeatMs = 1000;

function event(kind: MessageInitShape<typeof EventSchema>["kind"]): Event {
  return create(EventSchema, { kind });
}

export function createChatRooms({
  store,
  bus,
  maxQueue,
  replayPageSize = 100,
  heartbeatMs = 15_000,
}: ChatRoomsOptions): ChatRooms {
  const presence = createPresence();
  /** Last typing notice passed on per room and name, see `setTyping`. */
  const typingSeen = new Map<string, { typing: boolean; at: number }>();
  const heartbeat =
    heartbeatMs > 0
      ? {
          intervalMs: heartbeatMs,
          event: () => event({ case: "heartbeat", value: { serverTime: timestampNow() } }),
        }
      : undefined;

  /**
   * Messages of `room` after `afterSeq`, page by page, up to `untilSeq`
   * (inclusive; undefined: until a short page).
   */
  async function* readFrom(room: string, afterSeq: bigint, untilSeq?: bigint) {
    for (let last = afterSeq; untilSeq === undefined || last < untilSeq; ) {
      const limit =
        untilSeq === undefined || untilSeq - last > BigInt(replayPageSize)
          ? replayPageSize
          : Number(untilSeq - last);
      const page = await store.readAfter(room, last, limit);
      for (const message of page) {
        if (untilSeq !== undefined && message.seq > untilSeq) return;
        yield message;
        last = message.seq;
      }
      if (page.length < limit) return;
    }
  }

  return {
    async send(input) {
      const result = await store.append(input);
      // Publish synchronously on resolution: appends of a room resolve in
      // seq order, so events are published in seq order.
      if (!result.duplicate) {
        bus.publish(result.message.room, event({ case: "message", value: result.message }));
      }
      return result;
    },

    async *subscribe({ room, from, epoch, name, signal }) {
      // Listen before reading anything: whatever happens from here on is
      // either in the replay or in the live queue (or both: dropped by seq).
      // The member list is read in the same turn, so the joins and leaves in
      // the live queue are exactly those that follow it.
      const live = bus.subscribe(room, { signal, maxQueue, heartbeat });
      const members = presence.members(room);
      const joined = name ? presence.join(room, name) : undefined;
      if (joined) bus.publish(room, event({ case: "memberJoined", value: { member: joined } }));
      // Released when the call ends, not only when this generator resumes:
      // a consumer stuck on a dead connection must not keep the client
      // listed or subscribed (issue 13).
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        signal.removeEventListener("abort", release);
        live.close();
        if (name && presence.leave(room, name)) {
          bus.publish(room, event({ case: "memberLeft", value: { name } }));
        }
      };
      signal.addEventListener("abort", release, { once: true });
      let lastSeq = 0n;

      /**
       * Moves the position to `seq`; returns the gap event owed first when
       * seqs are missing before it.
       */
      function advance(seq: bigint): Event | undefined {
        const gap =
          seq > lastSeq + 1n
            ? event({ case: "gap", value: { afterSeq: lastSeq, nextSeq: seq } })
            : undefined;
        lastSeq = seq;
        return gap;
      }
      /** A stored message as events: the gap before it, if any, then itself. */
      function* deliver(message: Message) {
        const gap = advance(message.seq);
        if (gap) yield gap;
        yield event({ case: "message", value: message });
      }

      try {
        const bounds = await store.bounds(room);
        let replay: AsyncIterable<Message> | Message[];
        if (from.case === "afterSeq") {
          if (epoch && epoch !== store.epoch) {
            yield event({ case: "reset", value: { epoch: store.epoch } });
            lastSeq = bounds.firstSeq - 1n;
          } else if (from.value > bounds.headSeq) {
            throw new SeqAheadError(from.value, bounds.headSeq);
          } else {
            lastSeq = from.value;
          }
          replay = readFrom(room, lastSeq);
        } else if (from.case === "last") {
          // One page read backwards, complete up to the head at that
          // moment; anything newer is already in the live queue.
          replay = await store.readBefore(room, 0n, from.value);
          lastSeq = (replay[0]?.seq ?? bounds.headSeq + 1n) - 1n;
        } else {
          replay = [];
          lastSeq = bounds.headSeq;
        }
        for await (const message of replay) {
          signal.throwIfAborted();
          yield* deliver(message);
        }
        // Everything up to the head read above was committed, so what the
        // replay did not find there was removed by retention.
        if (lastSeq < bounds.headSeq) {
          yield event({ case: "gap", value: { afterSeq: lastSeq, nextSeq: bounds.headSeq + 1n } });
          lastSeq = bounds.headSeq;
        }
        yield event({
          case: "ready",
          value: { headSeq: lastSeq, epoch: store.epoch, members },
        });

        for await (const e of live) {
          if (e.kind.case === "message") {
            const message = e.kind.value;
            if (message.seq <= lastSeq) continue;
            // A hole in the live sequence (events reordered on their way
            // here) is filled from the store before going on.
            if (message.seq > lastSeq + 1n) {
              for await (const m of readFrom(room, lastSeq, message.seq - 1n)) yield* deliver(m);
            }
            // The published event itself: one per message, shared by every
            // subscriber, not rebuilt per subscriber.
            const gap = advance(message.seq);
            if (gap) yield gap;
            yield e;
          } else {
            yield e;
          }
        }
      } catch (e) {
        if (e instanceof SubscriberOverflowError) throw new FellBehindError(lastSeq, e);
        throw e;
      } finally {
        release();
      }
    },

    history(room, beforeSeq, limit) {
      return store.readBefore(room, beforeSeq, limit);
    },

    members(room) {
      return presence.members(room);
    },

    setTyping(room, name, typing) {
      // A client repeating "still typing" on every keystroke would flood
      // every subscriber's buffer: pass a repeat of the same state at most
      // once per second per name. Changes always pass.
      const key = `${room}\u0000${name}`;
      const last = typingSeen.get(key);
      const now = Date.now();
      if (last !== undefined && last.typing === typing && now - last.at < typingRepeatMs) return;
      if (typingSeen.size >= 10_000) typingSeen.clear();
      typingSeen.set(key, { typing, at: now });
      bus.publish(room, event({ case: "typing", value: { name, typing } }));
    },

    subscriberCount(room) {
      return bus.subscriberCount(room);
    },
  };
}
