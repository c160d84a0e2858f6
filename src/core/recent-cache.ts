import type { Message } from "../gen/chat/v1/chat_pb.ts";
import type { MessageStore } from "./message-store.ts";

export interface RecentCacheOptions {
  /** Newest messages kept per room. Default 1024. */
  messagesPerRoom?: number;
  /** Messages kept over all rooms; least recently used rooms go first. Default 65,536. */
  totalMessages?: number;
}

interface Entry {
  /** Seq of `messages[0]`; the run is contiguous. */
  first: bigint;
  messages: Message[];
}

/**
 * A {@link MessageStore} that keeps each room's newest messages in memory,
 * as the one object every reader shares.
 *
 * Why: a subscriber that joins or resumes replays from the store. With a
 * thousand subscribers replaying the same recent messages at once, a store
 * that builds new objects per read (SQLite) held a page of copies per
 * subscriber, and the peak of those copies ran the server out of memory
 * (issue 13). Recent replays are now served from one shared run, with no
 * store read at all; older history still pages from the store.
 *
 * Correctness does not depend on the cache being complete: a room's run is
 * only extended by appends made through this wrapper, and it is only used
 * when the store's bounds say it reaches the head. Retention (by count or
 * age) is the store's: cached messages below the store's `firstSeq` are
 * never returned.
 */
export function withRecentCache(
  store: MessageStore,
  options: RecentCacheOptions = {},
): MessageStore {
  const perRoom = options.messagesPerRoom ?? 1024;
  const total = options.totalMessages ?? 65_536;
  /** In least-recently-used order (a Map iterates in insertion order). */
  const rooms = new Map<string, Entry>();
  let cached = 0;

  function touch(room: string, entry: Entry): void {
    rooms.delete(room);
    rooms.set(room, entry);
  }

  function drop(room: string): void {
    const entry = rooms.get(room);
    if (entry === undefined) return;
    cached -= entry.messages.length;
    rooms.delete(room);
  }

  function add(message: Message): void {
    let entry = rooms.get(message.room);
    if (entry === undefined || entry.first + BigInt(entry.messages.length) !== message.seq) {
      drop(message.room);
      entry = { first: message.seq, messages: [] };
    }
    entry.messages.push(message);
    cached++;
    if (entry.messages.length > perRoom) {
      // Amortised trimming: cut a quarter at once rather than shift per message.
      const cut = entry.messages.length - Math.floor(perRoom * 0.75);
      entry.messages.splice(0, cut);
      entry.first += BigInt(cut);
      cached -= cut;
    }
    touch(message.room, entry);
    for (const [room] of rooms) {
      if (cached <= total || room === message.room) break;
      drop(room);
    }
  }

  /**
   * The cached run of `room` with the store's retained range, when the run
   * reaches the store's head; undefined when the store must be read.
   */
  async function covered(room: string) {
    const entry = rooms.get(room);
    if (entry === undefined) return undefined;
    const bounds = await store.bounds(room);
    const last = entry.first + BigInt(entry.messages.length) - 1n;
    // Newer than `bounds` is only an append that resolved meanwhile; older
    // means appends that did not pass through here.
    if (last < bounds.headSeq) {
      drop(room);
      return undefined;
    }
    return { entry, firstSeq: bounds.firstSeq, headSeq: bounds.headSeq };
  }

  function slice(entry: Entry, fromSeq: bigint, toSeq: bigint): Message[] {
    if (toSeq < fromSeq) return [];
    return entry.messages.slice(Number(fromSeq - entry.first), Number(toSeq - entry.first) + 1);
  }

  return {
    get epoch() {
      return store.epoch;
    },

    async append(message) {
      const result = await store.append(message);
      if (!result.duplicate) add(result.message);
      return result;
    },

    async readAfter(room, afterSeq, limit) {
      const c = await covered(room);
      if (c === undefined || afterSeq + 1n < c.entry.first) {
        return store.readAfter(room, afterSeq, limit);
      }
      const from = afterSeq + 1n > c.firstSeq ? afterSeq + 1n : c.firstSeq;
      const to = from + BigInt(limit) - 1n;
      return slice(c.entry, from, to < c.headSeq ? to : c.headSeq);
    },

    async readBefore(room, beforeSeq, limit) {
      const c = await covered(room);
      if (c === undefined) return store.readBefore(room, beforeSeq, limit);
      const to = beforeSeq === 0n || beforeSeq > c.headSeq ? c.headSeq : beforeSeq - 1n;
      const from = to - BigInt(limit) + 1n;
      // Served here only when nothing older than the run is wanted.
      if (from < c.entry.first && c.firstSeq < c.entry.first) {
        return store.readBefore(room, beforeSeq, limit);
      }
      return slice(c.entry, from > c.firstSeq ? from : c.firstSeq, to);
    },

    bounds: (room) => store.bounds(room),

    async close() {
      rooms.clear();
      cached = 0;
      await store.close();
    },
  };
}
