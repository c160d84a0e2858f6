/**
 * What a session knows of its room, and how each Subscribe event changes it:
 * a pure reducer, so that resume, dedupe, reset and presence rules can be
 * tested without a transport, a timer or a listener.
 */
import type {
  Event,
  HistoryGap,
  HistoryReset,
  Member,
  Message,
  SubscribeRequest,
} from "../../src/gen/chat/v1/chat_pb.ts";

/**
 * The messages themselves are not part of it: the reducer decides which to
 * hold (`message` changes, in seq order, never a duplicate; `reset` drops
 * them all) and the session appends them, because copying an immutable list
 * on every message would make a long session quadratic.
 */
export interface RoomState {
  /** Our presence name: our own typing notices are not shown to us. */
  readonly self: string;
  /** Seq of the newest message accepted (0n: none); the resume position. */
  readonly lastSeq: bigint;
  /** The server's history epoch, from Ready or HistoryReset; undefined before the first. */
  readonly epoch: string | undefined;
  readonly members: ReadonlyMap<string, Member>;
}

/**
 * One thing an event changed, for the session to apply and announce
 * (`message`: one to hold; `members`: the new map; `reset`: drop every
 * message held). Typing is a change rather than state because notices
 * expire on a timer, which a reducer must not own.
 */
export type RoomChange =
  | { case: "message"; value: Message }
  | { case: "members"; value: ReadonlyMap<string, Member> }
  | { case: "typing"; value: { name: string; typing: boolean } }
  | { case: "gap"; value: HistoryGap }
  | { case: "reset"; value: HistoryReset }
  | { case: "ready" };

export interface RoomUpdate {
  state: RoomState;
  /** In the order listeners are to hear of them; empty when nothing changed. */
  changes: readonly RoomChange[];
}

/** The state before the first event: no message seen, no epoch, nobody present. */
export function createRoomState(self: string): RoomState {
  return { self, lastSeq: 0n, epoch: undefined, members: new Map() };
}

/**
 * Applies one event, returning the next state (the given one is never
 * modified) and what changed. Messages at or below `lastSeq` are dropped:
 * a resumed stream may replay what we hold. Heartbeats only prove liveness
 * and unknown kinds are ignored (proto contract): both change nothing.
 */
export function applyEvent(state: RoomState, event: Event | undefined): RoomUpdate {
  const kind = event?.kind;
  switch (kind?.case) {
    case "message": {
      const message = kind.value;
      if (message.seq <= state.lastSeq) return unchanged(state);
      return {
        state: { ...state, lastSeq: message.seq },
        // Whoever sent a message has stopped typing it.
        changes: [stoppedTyping(message.sender), { case: "message", value: message }],
      };
    }
    case "ready": {
      const members = new Map(kind.value.members.map((m) => [m.name, m]));
      return {
        state: { ...state, epoch: kind.value.epoch, members },
        changes: [{ case: "members", value: members }, { case: "ready" }],
      };
    }
    case "memberJoined": {
      const member = kind.value.member;
      if (member === undefined) return unchanged(state);
      const members = new Map(state.members).set(member.name, member);
      return { state: { ...state, members }, changes: [{ case: "members", value: members }] };
    }
    case "memberLeft":
      return leave(state, kind.value.name);
    case "typing": {
      const { name, typing } = kind.value;
      if (name === state.self) return unchanged(state);
      return { state, changes: [{ case: "typing", value: { name, typing } }] };
    }
    case "gap":
      return { state, changes: [{ case: "gap", value: kind.value }] };
    case "reset":
      return {
        state: { ...state, lastSeq: 0n, epoch: kind.value.epoch },
        changes: [{ case: "reset", value: kind.value }],
      };
    default:
      return unchanged(state);
  }
}

function unchanged(state: RoomState): RoomUpdate {
  return { state, changes: [] };
}

function leave(state: RoomState, name: string): RoomUpdate {
  // Someone who left mid-word is not typing any more.
  if (!state.members.has(name)) return { state, changes: [stoppedTyping(name)] };
  const members = new Map(state.members);
  members.delete(name);
  return {
    state: { ...state, members },
    changes: [{ case: "members", value: members }, stoppedTyping(name)],
  };
}

function stoppedTyping(name: string): RoomChange {
  return { case: "typing", value: { name, typing: false } };
}

/**
 * Where the next Subscribe starts: the first join replays the newest
 * `history` messages; every later attempt resumes after the newest message
 * held, in the epoch it belongs to, so nothing is shown twice or skipped.
 */
export function resumePoint(
  state: RoomState,
  history: number,
): Pick<SubscribeRequest, "epoch" | "start"> {
  const fresh = state.epoch === undefined && state.lastSeq === 0n;
  return {
    epoch: state.epoch ?? "",
    start: fresh ? { case: "last", value: history } : { case: "afterSeq", value: state.lastSeq },
  };
}
