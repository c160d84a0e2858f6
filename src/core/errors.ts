/**
 * Error kinds of the chat core, in one place. They carry what the RPC edge
 * needs to pick a Connect code and tell the client what to do next; the core
 * itself never speaks in RPC codes.
 */

/** A subscription's buffer overflowed: its consumer reads too slowly. */
export class SubscriberOverflowError extends Error {
  override name = "SubscriberOverflowError";
}

/** A subscriber was cut off for being slow; it can resume after `lastSeq`. */
export class FellBehindError extends Error {
  override name = "FellBehindError";
  readonly lastSeq: bigint;
  constructor(lastSeq: bigint, cause: unknown) {
    super(`subscriber fell behind after seq ${lastSeq}`, { cause });
    this.lastSeq = lastSeq;
  }
}

/** A client asked to resume from a position the room has not reached. */
export class SeqAheadError extends Error {
  override name = "SeqAheadError";
  readonly headSeq: bigint;
  constructor(requested: bigint, headSeq: bigint) {
    super(`after_seq ${requested} is ahead of the room's newest seq ${headSeq}`);
    this.headSeq = headSeq;
  }
}

/**
 * The store (or the bus between instances) cannot be reached now: a shared
 * backend's connection is down. Nothing was stored; the RPC edge answers
 * Unavailable, so the client retries.
 */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}

/**
 * The history a live subscription was reading is gone (a shared store came
 * back empty: a new epoch). The RPC edge answers Unavailable; the client
 * resumes with its epoch and gets `Event.reset`.
 */
export class HistoryLostError extends Error {
  override name = "HistoryLostError";
}
