import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Message, MessageSchema } from "../gen/chat/v1/chat_pb.ts";
import type { MessageStore } from "./message-store.ts";

export interface MemoryStoreOptions {
  /**
   * Messages retained per room; older ones are dropped first. Default 10,000.
   * Bounds memory (the seed kept every note forever). Trimming happens in
   * batches, so up to 1/16 more may be held for a while.
   */
  maxMessagesPerRoom?: number;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
}

interface Room {
  /** Retained messages; messages[i].seq === first + i. */
  messages: Message[];
  head: bigint;
}

/**
 * A bounded in-memory {@link MessageStore}: nothing survives a restart. For
 * tests and ephemeral deployments.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MessageStore {
  const max = options.maxMessagesPerRoom ?? 10_000;
  const now = options.now ?? Date.now;
  const trimBatch = Math.max(1, max >> 4);
  const rooms = new Map<string, Room>();

  function firstSeq(room: Room): bigint {
    return room.head - BigInt(room.messages.length) + 1n;
  }
  /** Index of the first retained message with seq > afterSeq. */
  function indexAfter(room: Room, afterSeq: bigint): number {
    const i = afterSeq - firstSeq(room) + 1n;
    return i < 0n ? 0 : Number(i > BigInt(room.messages.length) ? room.messages.length : i);
  }

  return {
    async append({ room: name, sender, text, clientId }) {
      let room = rooms.get(name);
      if (room === undefined) {
        room = { messages: [], head: 0n };
        rooms.set(name, room);
      }
      room.head += 1n;
      const message = create(MessageSchema, {
        room: name,
        seq: room.head,
        sender,
        text,
        clientId,
        sentAt: timestampFromMs(now()),
      });
      room.messages.push(message);
      // Trim in batches: splicing one element off the front of a long array
      // on every append would make each append cost O(max).
      if (room.messages.length >= max + trimBatch)
        room.messages.splice(0, room.messages.length - max);
      return message;
    },

    async readAfter(name, afterSeq, limit) {
      const room = rooms.get(name);
      if (room === undefined) return [];
      const start = indexAfter(room, afterSeq);
      return room.messages.slice(start, start + limit);
    },

    async readBefore(name, beforeSeq, limit) {
      const room = rooms.get(name);
      if (room === undefined) return [];
      const end = beforeSeq === 0n ? room.messages.length : indexAfter(room, beforeSeq - 1n);
      return room.messages.slice(Math.max(0, end - limit), end);
    },

    async headSeq(name) {
      return rooms.get(name)?.head ?? 0n;
    },

    async close() {
      rooms.clear();
    },
  };
}
