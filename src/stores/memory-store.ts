import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  defaultRetention,
  type MessageStore,
  type RetentionPolicy,
} from "../core/message-store.ts";
import { type Message, MessageSchema } from "../gen/chat/v1/chat_pb.ts";

export interface MemoryStoreOptions {
  /**
   * How much each room keeps. Default 10,000 messages, any age. Bounds memory
   * per room (the seed kept every note forever). Trimming by count happens in
   * batches, so up to 1/16 more may be held for a while (never returned past
   * the age limit, though).
   */
  retention?: Partial<RetentionPolicy>;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
}

interface Room {
  /** Retained messages; messages[i].seq === head - messages.length + 1 + i. */
  messages: Message[];
  head: bigint;
  /** Sender and client id ({@link clientKey}) → retained message, for idempotent appends. */
  byClientId: Map<string, Message>;
}

/** Idempotency keys are scoped by sender: one sender cannot see or reuse another's. */
function clientKey(sender: string, clientId: string): string {
  return `${sender}\u0000${clientId}`;
}

/**
 * A bounded in-memory {@link MessageStore}: nothing survives a restart (each
 * store gets a new epoch, so resuming clients are told). For tests and
 * ephemeral deployments.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MessageStore {
  const { maxMessagesPerRoom: max, maxAgeMs } = { ...defaultRetention, ...options.retention };
  const now = options.now ?? Date.now;
  const trimBatch = Math.max(1, max >> 4);
  const rooms = new Map<string, Room>();

  function drop(room: Room, count: number): void {
    for (const m of room.messages.splice(0, count)) {
      if (m.clientId !== "") room.byClientId.delete(clientKey(m.sender, m.clientId));
    }
  }

  /** Drops what retention no longer allows; returns the room for chaining. */
  function expire(room: Room): Room {
    // Trim by count in batches: splicing one element off the front of a long
    // array on every append would make each append cost O(max).
    if (room.messages.length >= max + trimBatch) drop(room, room.messages.length - max);
    if (maxAgeMs > 0) {
      const cutoff = now() - maxAgeMs;
      let n = 0;
      for (const m of room.messages) {
        if (m.sentAt === undefined || timestampMs(m.sentAt) >= cutoff) break;
        n++;
      }
      if (n > 0) drop(room, n);
    }
    return room;
  }

  /** Retained messages visible now: the newest `max`, none too old. */
  function visible(name: string): Message[] {
    const room = rooms.get(name);
    if (room === undefined) return [];
    const all = expire(room).messages;
    return all.length > max ? all.slice(all.length - max) : all;
  }

  /** Index of the first message with seq > afterSeq in a contiguous run. */
  function indexAfter(messages: Message[], afterSeq: bigint): number {
    const first = messages[0]?.seq ?? 0n;
    const i = afterSeq - first + 1n;
    return i < 0n ? 0 : Number(i > BigInt(messages.length) ? messages.length : i);
  }

  return {
    epoch: crypto.randomUUID(),

    async append({ room: name, sender, text, clientId }) {
      let room = rooms.get(name);
      if (room === undefined) {
        room = { messages: [], head: 0n, byClientId: new Map() };
        rooms.set(name, room);
      }
      expire(room);
      const key = clientKey(sender, clientId);
      const original = clientId === "" ? undefined : room.byClientId.get(key);
      if (original !== undefined) return { message: original, duplicate: true };
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
      if (clientId !== "") room.byClientId.set(key, message);
      return { message, duplicate: false };
    },

    async readAfter(name, afterSeq, limit) {
      const all = visible(name);
      const start = indexAfter(all, afterSeq);
      return all.slice(start, start + limit);
    },

    async readBefore(name, beforeSeq, limit) {
      const all = visible(name);
      const end = beforeSeq === 0n ? all.length : indexAfter(all, beforeSeq - 1n);
      return all.slice(Math.max(0, end - limit), end);
    },

    async bounds(name) {
      const head = rooms.get(name)?.head ?? 0n;
      return { firstSeq: visible(name)[0]?.seq ?? head + 1n, headSeq: head };
    },

    async close() {
      rooms.clear();
    },
  };
}
