import type { Event } from "../gen/chat/v1/chat_pb.ts";

/**
 * Where a room feed delivers its events: a response stream written in place
 * (the streaming fast path), or a queue read by an async iterator (Connect
 * handlers, tests).
 *
 * Push, not pull: a live event is handed to every sink in the publisher's
 * turn, with no promise, generator hop or timer per delivery. The sink says
 * what it can take; the feed decides what that means (wait during replay,
 * cut off when live).
 */
export interface EventSink {
  /**
   * Takes one event. Returns false when the consumer is too far behind to
   * take it; the event was not taken and the feed ends with
   * `FellBehindError` at the last message taken.
   */
  write(event: Event): boolean;
  /**
   * Undefined while the consumer can take more at once; otherwise a promise
   * that resolves when it can. Replay waits on it between messages, so
   * history is read from the store no faster than the client takes it.
   */
  ready(): Promise<void> | undefined;
}
