import type { Message } from "../gen/chat/v1/chat_pb.ts";

/** What a sender supplies; the store adds `seq` and `sentAt`. */
export interface NewMessage {
  room: string;
  sender: string;
  text: string;
  clientId: string;
}

/**
 * Where a room's history lives. Kept to a handful of methods so that other
 * backends (embedded SQL, a shared server) can be added without touching the
 * chat logic; every implementation runs `message-store.case.ts`.
 *
 * Contract: sequence numbers of a room start at 1 and grow by one with each
 * append, without gaps. Reads return messages in ascending seq order.
 */
export interface MessageStore {
  /** Assigns the room's next seq and the server time, and keeps the message. */
  append(message: NewMessage): Promise<Message>;
  /** Up to `limit` retained messages with seq > afterSeq, oldest first. */
  readAfter(room: string, afterSeq: bigint, limit: number): Promise<Message[]>;
  /**
   * Up to `limit` retained messages with seq < beforeSeq, oldest first (the
   * newest `limit` of them). `beforeSeq` 0n means "before the end".
   */
  readBefore(room: string, beforeSeq: bigint, limit: number): Promise<Message[]>;
  /** The room's newest seq, 0n when nothing was ever appended. */
  headSeq(room: string): Promise<bigint>;
  /** Releases resources. Pending appends complete first. */
  close(): Promise<void>;
}
