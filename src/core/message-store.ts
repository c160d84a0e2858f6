import type { Message } from "../gen/chat/v1/chat_pb.ts";

/** What a sender supplies; the store adds `seq` and `sentAt`. */
export interface NewMessage {
  room: string;
  sender: string;
  text: string;
  /**
   * Client-chosen id; a non-empty one makes the append idempotent per room
   * and sender. Scoped by sender so that one user can neither find out nor
   * take over another's ids (with auth on, the sender is the caller's
   * verified name).
   */
  clientId: string;
}

/** How much history a store keeps per room. */
export interface RetentionPolicy {
  /** Newest messages kept per room. */
  maxMessagesPerRoom: number;
  /** Messages older than this are dropped; 0 keeps them regardless of age. */
  maxAgeMs: number;
}

export const defaultRetention: RetentionPolicy = { maxMessagesPerRoom: 10_000, maxAgeMs: 0 };

export interface AppendResult {
  message: Message;
  /**
   * True when a retained message of the room from the same sender already
   * had this non-empty client id: nothing was stored and `message` is the
   * original.
   */
  duplicate: boolean;
}

/** The retained range of a room. */
export interface RoomBounds {
  /** Oldest retained seq; `headSeq + 1n` when nothing is retained. */
  firstSeq: bigint;
  /** Newest seq ever assigned; 0n when nothing was ever appended. */
  headSeq: bigint;
}

/**
 * Where a room's history lives. Kept to a handful of methods so that other
 * backends (embedded SQL, a shared server) can be added without touching the
 * chat logic; every implementation runs `message-store.case.ts`.
 *
 * Contract:
 * - A room's seqs start at 1 and grow by one per stored message, never reused,
 *   even after retention removed old messages.
 * - Appends to one room resolve in seq order, so a caller that publishes on
 *   resolution publishes in seq order.
 * - Once `append` resolved, the message is as durable as the store promises
 *   (memory: until the process ends; SQLite: on disk).
 * - Reads return retained messages only, in ascending seq order.
 * - `epoch` names this history. It changes only when the history is lost or
 *   replaced (a new in-memory store, a new database file), so a client can
 *   tell "resume from seq N" apart from "seq N of a history that is gone".
 */
export interface MessageStore {
  readonly epoch: string;
  /**
   * True when `append` itself publishes the stored message on the room's
   * cluster bus in the same atomic step (Redis), so no acknowledged message
   * can miss the bus when an instance dies between the two: the caller
   * must not publish it again.
   */
  readonly publishesAppends?: boolean;
  /** Assigns the room's next seq and the server time, and keeps the message. */
  append(message: NewMessage): Promise<AppendResult>;
  /** Up to `limit` retained messages with seq > afterSeq, oldest first. */
  readAfter(room: string, afterSeq: bigint, limit: number): Promise<Message[]>;
  /**
   * Up to `limit` retained messages with seq < beforeSeq, oldest first (the
   * newest `limit` of them). `beforeSeq` 0n means "before the end".
   */
  readBefore(room: string, beforeSeq: bigint, limit: number): Promise<Message[]>;
  bounds(room: string): Promise<RoomBounds>;
  /** Releases resources. Pending appends complete first. */
  close(): Promise<void>;
}
