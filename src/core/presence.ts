import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Event, EventSchema, type Member, MemberSchema } from "../gen/chat/v1/chat_pb.ts";
import type { EventBus } from "./event-bus.ts";
import { createSubscriptionCounts } from "./subscription-counts.ts";

/**
 * Who is in which room: named subscriptions, counted per name, so that a
 * person with two tabs open joins once and leaves when the last one closes.
 * Ephemeral by nature: never stored with the history.
 *
 * A presence announces its own changes on the room's bus (`memberJoined`
 * when a name is new to the room, `memberLeft` after its last subscription),
 * so that a presence shared by several server instances can decide "new to
 * the room" where it sees every instance (see `redis/redis-presence.ts`).
 *
 * Contract (`presence.case.ts`): `members` reflects every `join` and `leave`
 * made before it was called; the in-process presence answers with the state
 * of the very turn it was called in.
 */
export interface Presence {
  /** Counts one more subscription of `name`; announces `memberJoined` when the name is new to the room. */
  join(room: string, name: string): void;
  /** Counts one subscription less; announces `memberLeft` after the name's last one in the room. */
  leave(room: string, name: string): void;
  /** Who is in the room, ordered by name. */
  members(room: string): Promise<Member[]>;
  /** Lets go of timers and connections (a shared presence withdraws this instance's members). */
  close(): Promise<void>;
}

export interface LocalPresenceOptions {
  bus: EventBus<Event>;
  now?: () => number;
}

/**
 * Presence held in this process, for a single server. Memory is bounded by
 * the open subscriptions (empty rooms are forgotten).
 */
export function createPresence({ bus, now = Date.now }: LocalPresenceOptions): Presence {
  const rooms = createSubscriptionCounts<Member>();

  return {
    join(room, name) {
      const member = rooms.add(room, name, () =>
        create(MemberSchema, { name, since: timestampFromMs(now()) }),
      );
      if (member === undefined) return;
      bus.publish(room, create(EventSchema, { kind: { case: "memberJoined", value: { member } } }));
    },

    leave(room, name) {
      if (rooms.remove(room, name) === undefined) return;
      bus.publish(room, create(EventSchema, { kind: { case: "memberLeft", value: { name } } }));
    },

    members(room) {
      return Promise.resolve(sortedMembers(rooms.values(room)));
    },

    async close() {
      rooms.clear();
    },
  };
}

/** Members ordered by name (the order `members` promises). */
export function sortedMembers(members: Iterable<Member>): Member[] {
  return [...members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
