import { SeqAheadError } from "./errors.ts";
import type { RoomBounds } from "./message-store.ts";
import type { ReplayFrom } from "./room-feed.ts";

/**
 * Where a subscription's replay starts, decided from the request and the
 * room's bounds alone (no I/O, so every case is a unit test):
 * - `after`: read forward from `afterSeq`; `reset` first when the client's
 *   position belongs to another history (then from the oldest retained);
 * - `last`: the newest `count` messages (one page read backwards);
 * - `live`: nothing to replay; live events after `afterSeq` (the head).
 */
export type ReplayPlan =
  | { kind: "after"; afterSeq: bigint; reset?: string }
  | { kind: "last"; count: number }
  | { kind: "live"; afterSeq: bigint };

/**
 * Throws {@link SeqAheadError} for a position in this history that the room
 * has not reached: a client must not wait for seqs that belong elsewhere.
 */
export function planReplay(
  from: ReplayFrom,
  clientEpoch: string | undefined,
  storeEpoch: string,
  bounds: RoomBounds,
): ReplayPlan {
  if (from.case === "afterSeq") {
    if (clientEpoch && clientEpoch !== storeEpoch) {
      return { kind: "after", afterSeq: bounds.firstSeq - 1n, reset: storeEpoch };
    }
    if (from.value > bounds.headSeq) throw new SeqAheadError(from.value, bounds.headSeq);
    return { kind: "after", afterSeq: from.value };
  }
  if (from.case === "last") return { kind: "last", count: from.value };
  return { kind: "live", afterSeq: bounds.headSeq };
}
