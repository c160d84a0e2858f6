import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Member, MemberSchema } from "../gen/chat/v1/chat_pb.ts";

/**
 * Who is in which room: named subscriptions, counted per name, so that a
 * person with two tabs open joins once and leaves when the last one closes.
 * Ephemeral by nature: held in memory, never stored. Memory is bounded by
 * the open subscriptions (empty rooms are forgotten).
 */
export interface Presence {
  /** Counts one more subscription of `name`; returns the member when it is new to the room. */
  join(room: string, name: string): Member | undefined;
  /** Counts one subscription less; true when it was the name's last one in the room. */
  leave(room: string, name: string): boolean;
  /** Who is in the room, ordered by name. */
  members(room: string): Member[];
}

interface Entry {
  member: Member;
  subscriptions: number;
}

export function createPresence(now: () => number = Date.now): Presence {
  const rooms = new Map<string, Map<string, Entry>>();

  return {
    join(room, name) {
      let names = rooms.get(room);
      if (names === undefined) {
        names = new Map();
        rooms.set(room, names);
      }
      const entry = names.get(name);
      if (entry !== undefined) {
        entry.subscriptions++;
        return undefined;
      }
      const member = create(MemberSchema, { name, since: timestampFromMs(now()) });
      names.set(name, { member, subscriptions: 1 });
      return member;
    },

    leave(room, name) {
      const names = rooms.get(room);
      const entry = names?.get(name);
      if (names === undefined || entry === undefined) return false;
      if (--entry.subscriptions > 0) return false;
      names.delete(name);
      if (names.size === 0) rooms.delete(room);
      return true;
    },

    members(room) {
      const names = rooms.get(room);
      if (names === undefined) return [];
      return [...names.values()]
        .map((e) => e.member)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
  };
}
