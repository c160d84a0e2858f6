/**
 * A reconnecting, resuming chat room session, shared by the browser and the
 * terminal clients. Runtime-agnostic: it only needs a connect-es client (any
 * transport), timers and AbortController, so it runs in browsers, Node, Bun
 * and Deno alike.
 *
 * Why it exists: a chat client must survive network drops and server
 * restarts without showing a message twice or losing one. The server gives
 * us the means (sequence numbers, `after_seq` + `epoch` resume, idempotent
 * Send by `client_id`, heartbeats); this module and the parts it composes
 * are the one place that uses them correctly, so the clients only render state.
 */
import type { Client, ConnectError } from "@connectrpc/connect";
import type {
  ChatService,
  HistoryGap,
  HistoryReset,
  Member,
  Message,
  SendResponse,
} from "../../src/gen/chat/v1/chat_pb.ts";
import { createCallAuth } from "./call-auth.ts";
import { createEmitter, type Emitter } from "./emitter.ts";
import { createExpiringSet, type ExpiringSet } from "./expiring-set.ts";
import { type Backoff, randomId } from "./retry.ts";
import { createRetryPause } from "./retry-pause.ts";
import { applyEvent, createRoomState, type RoomChange, resumePoint } from "./room-state.ts";
import { createSendQueue } from "./send-queue.ts";
import { createSubscriptionLoop } from "./subscription-loop.ts";
import { createTypingNotifier } from "./typing-notifier.ts";

export { randomId };

/**
 * `connecting`: first attempt, nothing live yet. `live`: replay done, events
 * flow. `reconnecting`: the stream broke, waiting (see `nextRetryAt`) or
 * retrying. `failed`: the server refused the subscription itself
 * (invalid_argument, out_of_range, ...): retrying would fail the same way, so
 * the session waits for `retryNow()` or `close()`. `closed`: `close()` was called.
 */
export type SessionState = "connecting" | "live" | "reconnecting" | "failed" | "closed";

export interface RoomSessionOptions {
  client: Client<typeof ChatService>;
  room: string;
  /** Presence name; also the sender of `send` and the name in typing notices. */
  name: string;
  /** Messages replayed on first join (Subscribe start.last). Default 100. */
  history?: number;
  /**
   * No event for this long (the server sends a heartbeat every ~15 s on a
   * quiet stream) means the connection is presumed dead: reconnect. Default 45 s.
   */
  heartbeatTimeoutMs?: number;
  /** Delay between attempts: exponential with jitter. Default 250 ms to 10 s. */
  backoff?: Backoff;
  /**
   * client_id generator for `send`. Default `crypto.randomUUID`, or a random
   * v4 UUID from `crypto.getRandomValues` where randomUUID is missing (browsers
   * expose it only on https and localhost pages).
   */
  newId?: () => string;
  /** A typing notice expires after this long without renewal. Default 6 s. */
  typingTtlMs?: number;
  /** While typing, at most one notice per this interval. Default 2 s. */
  typingThrottleMs?: number;
  /** Deadline of each Send attempt; it is then retried with the same client_id. Default 10 s. */
  sendTimeoutMs?: number;
  /**
   * The bearer token for a server with auth on, sent as `authorization` on
   * every call. Asked for before the first call, and again when the server
   * answers `unauthenticated` (the token expired): return a fresh one and
   * the session resumes where it was; return undefined (or the same token,
   * refused again) and it stops in state `failed`. Absent: no token is sent.
   */
  getToken?: () => string | undefined | Promise<string | undefined>;
}

/** Listener signatures, by event name. */
export interface RoomSessionEvents {
  /** A new message, in seq order, never a duplicate. */
  message: (message: Message) => void;
  /** The state changed, or `nextRetryAt` did. */
  state: (state: SessionState) => void;
  members: (members: ReadonlyMap<string, Member>) => void;
  typing: (typing: ReadonlySet<string>) => void;
  /** Messages between `afterSeq` and `nextSeq` are no longer retained by the server. */
  gap: (gap: HistoryGap) => void;
  /** The history held was discarded: the server's history of the room restarted. */
  reset: (reset: HistoryReset) => void;
  /** A subscription attempt failed (the session reconnects unless state is `failed`). */
  error: (error: ConnectError) => void;
}

export interface RoomSession {
  readonly state: SessionState;
  /** Held messages in seq order, never a duplicate. */
  readonly messages: readonly Message[];
  readonly members: ReadonlyMap<string, Member>;
  /** Names typing now, not including our own name. */
  readonly typing: ReadonlySet<string>;
  readonly lastError: ConnectError | undefined;
  /** Seq of the newest message held (0n: none); the resume position. */
  readonly lastSeq: bigint;
  /** When the next attempt starts (ms since epoch) while waiting to reconnect. */
  readonly nextRetryAt: number | undefined;
  on<K extends keyof RoomSessionEvents>(event: K, listener: RoomSessionEvents[K]): () => void;
  /**
   * Sends one message with a fresh client_id and retries it with the same
   * client_id across reconnects until acknowledged (the server dedupes:
   * `duplicate` is then true). Sends are delivered in call order. Rejects on
   * errors a retry cannot fix (invalid_argument, ...) and on `close()`.
   * `clientId` overrides the generated one, for a caller that shows the
   * message as pending before it is acknowledged.
   */
  send(text: string, clientId?: string): Promise<SendResponse>;
  /** Best effort and throttled; call it on every keystroke. */
  setTyping(typing: boolean): void;
  /** Skips the backoff wait; also restarts a `failed` session. */
  retryNow(): void;
  close(): void;
}

/**
 * Composes the session from its parts: the room state reducer
 * (`room-state.ts`), the subscription loop, the send queue and the typing
 * notifier, which share one token holder and one retry pause. What is left
 * here is the session's own state (`SessionState`, the messages held, the
 * last error) and telling listeners of changes.
 */
export function createRoomSession(options: RoomSessionOptions): RoomSession {
  const { client, room, name } = options;
  const backoff = options.backoff ?? { initialMs: 250, maxMs: 10_000 };
  const timeoutMs = options.sendTimeoutMs ?? 10_000;
  const newId = options.newId ?? randomId;
  const closed = new AbortController();
  const { signal } = closed;
  const events = createEmitter<RoomSessionEvents>();
  const typing = createExpiringSet(options.typingTtlMs ?? 6000, (names) =>
    events.emit("typing", names),
  );
  const auth = createCallAuth(options.getToken);
  const pause = createRetryPause(signal);
  let roomState = createRoomState(name);
  let messages: Message[] = [];
  let state: SessionState = "connecting";
  let lastError: ConnectError | undefined;
  let nextRetryAt: number | undefined;

  /** `retryAt`: while waiting to reconnect. Going live ends the waits of sends too. */
  function setState(next: SessionState, retryAt?: number): void {
    if (state === "closed") return;
    state = next;
    nextRetryAt = retryAt;
    if (next === "live") pause.wakeAll();
    events.emit("state", state);
  }

  const announce = createAnnouncer(events, typing, () => setState("live"));
  const loop = createSubscriptionLoop({
    client,
    auth,
    backoff,
    pause,
    signal,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 45_000,
    request: () => ({ room, name, ...resumePoint(roomState, options.history ?? 100) }),
    onEvent(event) {
      const { state: next, changes } = applyEvent(roomState, event);
      roomState = next;
      // All of the event is applied before any listener hears of it.
      for (const change of changes) {
        if (change.case === "message") messages.push(change.value);
        else if (change.case === "reset") messages = [];
      }
      for (const change of changes) announce(change);
    },
    onError(error) {
      lastError = error;
      typing.clear();
      events.emit("error", error);
    },
    onState: setState,
  });
  const queue = createSendQueue({ client, room, name, auth, timeoutMs, backoff, pause, signal });
  const typingNotifier = createTypingNotifier({
    client,
    room,
    name,
    auth,
    timeoutMs,
    signal,
    throttleMs: options.typingThrottleMs ?? 2000,
    isLive: () => state === "live",
  });
  loop.start();

  return {
    get state() {
      return state;
    },
    get messages() {
      return messages;
    },
    get members() {
      return roomState.members;
    },
    get typing() {
      return typing.values();
    },
    get lastError() {
      return lastError;
    },
    get lastSeq() {
      return roomState.lastSeq;
    },
    get nextRetryAt() {
      return nextRetryAt;
    },
    on: events.on,
    send(text, clientId = newId()) {
      typingNotifier.messageSent();
      return queue.send(text, clientId);
    },
    setTyping: typingNotifier.set,
    retryNow: loop.retryNow,
    close() {
      if (signal.aborted) return;
      typingNotifier.stop();
      closed.abort();
      typing.clear();
      nextRetryAt = undefined;
      state = "closed";
      events.emit("state", state);
    },
  };
}

/**
 * How each change of the room state is told to listeners (typing notices
 * go through the expiring set, which tells them in turn). Call it once the
 * session's state already shows the change: a listener may read it.
 */
function createAnnouncer(
  events: Emitter<RoomSessionEvents>,
  typing: ExpiringSet,
  goLive: () => void,
): (change: RoomChange) => void {
  const announce: { [C in RoomChange as C["case"]]: (change: C) => void } = {
    message: ({ value }) => events.emit("message", value),
    members: ({ value }) => events.emit("members", value),
    typing: ({ value }) => (value.typing ? typing.add(value.name) : typing.delete(value.name)),
    gap: ({ value }) => events.emit("gap", value),
    reset: ({ value }) => events.emit("reset", value),
    ready: goLive,
  };
  // The table is checked per case; only the lookup needs telling that they match.
  return (change) => (announce[change.case] as (change: RoomChange) => void)(change);
}
