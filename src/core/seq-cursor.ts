import type { Event } from "../gen/chat/v1/chat_pb.ts";
import { event } from "./event.ts";

/**
 * Where one subscriber is in a room's sequence: the seq of the last message
 * it was given, or announced missing. It decides what a message means to
 * that subscriber (already given, next, or after a hole) and makes the one
 * kind of `Event.gap` there is, for retention (replay) and for holes (live).
 */
export class SeqCursor {
  /** Seq of the last message given (or announced missing by a gap). */
  lastSeq = 0n;
  /**
   * `lastSeq` as a number, for the comparisons of every delivery: BigInt
   * comparisons cost more, and seqs stay far below 2^53.
   */
  private last = 0;

  moveTo(seq: bigint): void {
    this.lastSeq = seq;
    this.last = Number(seq);
  }

  /** Whether the message with `seq` was not given yet. */
  isNew(seq: bigint): boolean {
    return Number(seq) > this.last;
  }

  /** Whether messages are missing between the last one given and `seq`. */
  isAfterHole(seq: bigint): boolean {
    return Number(seq) > this.last + 1;
  }

  /** The gap event that announces what is missing before `nextSeq`, if anything is. */
  gapBefore(nextSeq: bigint): Event | undefined {
    if (!this.isAfterHole(nextSeq)) return undefined;
    return event({ case: "gap", value: { afterSeq: this.lastSeq, nextSeq } });
  }
}
