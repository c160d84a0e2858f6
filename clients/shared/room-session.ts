/**
 * A reconnecting, resuming chat room session, shared by the browser and the
 * terminal clients. Runtime-agnostic: it only needs a connect-es client (any
 * transport), timers and AbortController, so it runs in browsers, Node, Bun
 * and Deno alike.
 *
 * Why it exists: a chat client must survive network drops and server
 * restarts without showing a message twice or losing one. The server gives
 * us the means (sequence numbers, `after_seq` + `epoch` resume, idempotent
 * Send by `client_id`, heartbeats); this module is the one place that uses
 * them correctly, so the clients only render state.
 */
import { type CallOptions, type Client, Code, ConnectError } from "@connectrpc/connect";
import type {
  ChatService,
  Event,
  HistoryGap,
  HistoryReset,
  Member,
  Message,
  SendResponse,
} from "../../src/gen/chat/v1/chat_pb.ts";
import { createExpiringSet } from "./expiring-set.ts";
import { type Backoff, backoffDelay, randomId } from "./retry.ts";

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

/** Errors that a new subscription with the same request would hit again. */
const fatalCodes = new Set([
  Code.InvalidArgument,
  Code.OutOfRange,
  Code.Unimplemented,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.FailedPrecondition,
]);

/** Send errors worth retrying with the same client_id: transport or server trouble. */
const retryableSendCodes = new Set([
  Code.Unavailable,
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Canceled,
  Code.Aborted,
  Code.Internal,
]);

type Listeners = { [K in keyof RoomSessionEvents]: Set<RoomSessionEvents[K]> };

export function createRoomSession(options: RoomSessionOptions): RoomSession {
  const { client, room, name } = options;
  const history = options.history ?? 100;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 45_000;
  const backoff = options.backoff ?? { initialMs: 250, maxMs: 10_000 };
  const newId = options.newId ?? randomId;
  const typingTtlMs = options.typingTtlMs ?? 6000;
  const typingThrottleMs = options.typingThrottleMs ?? 2000;
  const sendTimeoutMs = options.sendTimeoutMs ?? 10_000;
  const { getToken } = options;

  const closed = new AbortController();
  const listeners: Listeners = {
    message: new Set(),
    state: new Set(),
    members: new Set(),
    typing: new Set(),
    gap: new Set(),
    reset: new Set(),
    error: new Set(),
  };
  let state: SessionState = "connecting";
  let messages: Message[] = [];
  let lastSeq = 0n;
  let epoch: string | undefined;
  let members = new Map<string, Member>();
  const typing = createExpiringSet(typingTtlMs, (names) => emit("typing", names));
  let lastError: ConnectError | undefined;
  let nextRetryAt: number | undefined;
  /** Waits (backoff, send retries) that end early on `live` or `retryNow()`. */
  const wakers = new Set<() => void>();
  let sendChain: Promise<unknown> = Promise.resolve();
  let typingSent = false;
  let typingSentAt = 0;
  /** The token sent with every call; asked for on first use. */
  let token: Promise<string | undefined> | undefined;

  /** Asks for a token; one that cannot be had is none. */
  function askToken(): Promise<string | undefined> | undefined {
    return (
      getToken &&
      Promise.resolve()
        .then(getToken)
        .catch(() => undefined)
    );
  }

  /** The token calls send now, asked for on first use. */
  function currentToken(): Promise<string | undefined> | undefined {
    token ??= askToken();
    return token;
  }

  /** Call options carrying the current token, if any. */
  async function auth(options: CallOptions): Promise<CallOptions> {
    const current = await currentToken();
    return current === undefined
      ? options
      : { ...options, headers: { authorization: `Bearer ${current}` } };
  }

  /**
   * After an `unauthenticated` answer: asks for a fresh token once for the
   * call that was refused. False when there is none to try.
   */
  async function refreshToken(refused: Promise<string | undefined> | undefined): Promise<boolean> {
    if (getToken === undefined) return false;
    // Concurrent calls refused with the same token share one refresh.
    if (token === refused) token = askToken();
    return (await token) !== undefined;
  }

  function emit<K extends keyof RoomSessionEvents>(
    event: K,
    ...args: Parameters<RoomSessionEvents[K]>
  ): void {
    for (const listener of [...listeners[event]]) {
      try {
        (listener as (...a: Parameters<RoomSessionEvents[K]>) => void)(...args);
      } catch (e) {
        // A broken listener must not break the session; report it where
        // uncaught errors are reported.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  function setState(next: SessionState): void {
    if (state === "closed") return;
    state = next;
    if (next === "live") wakeAll();
    emit("state", state);
  }

  function wakeAll(): void {
    for (const wake of [...wakers]) wake();
  }

  /** Resolves after `ms`, on `live`, on `retryNow()` or on close, whichever comes first. */
  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wakers.delete(done);
        closed.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakers.add(done);
      closed.signal.addEventListener("abort", done);
    });
  }

  function accept(message: Message): void {
    if (message.seq <= lastSeq) return;
    lastSeq = message.seq;
    messages.push(message);
    typing.delete(message.sender);
    emit("message", message);
  }

  /** Applies one event; true when it was Ready. */
  function handle(event: Event | undefined): boolean {
    const kind = event?.kind;
    switch (kind?.case) {
      case "message":
        accept(kind.value);
        return false;
      case "ready":
        epoch = kind.value.epoch;
        members = new Map(kind.value.members.map((m) => [m.name, m]));
        emit("members", members);
        setState("live");
        return true;
      case "memberJoined":
        if (kind.value.member) {
          members.set(kind.value.member.name, kind.value.member);
          emit("members", members);
        }
        return false;
      case "memberLeft":
        if (members.delete(kind.value.name)) emit("members", members);
        // Someone who left mid-word is not typing any more.
        typing.delete(kind.value.name);
        return false;
      case "typing":
        if (kind.value.name === name) return false;
        if (kind.value.typing) typing.add(kind.value.name);
        else typing.delete(kind.value.name);
        return false;
      case "gap":
        emit("gap", kind.value);
        return false;
      case "reset":
        messages = [];
        lastSeq = 0n;
        epoch = kind.value.epoch;
        emit("reset", kind.value);
        return false;
      default:
        // Heartbeats only prove liveness; unknown kinds are ignored (proto contract).
        return false;
    }
  }

  /** First join replays the newest `history`; later attempts resume where we are. */
  function subscribeRequest() {
    const fresh = epoch === undefined && lastSeq === 0n;
    return {
      room,
      name,
      epoch: epoch ?? "",
      start: fresh
        ? { case: "last" as const, value: history }
        : { case: "afterSeq" as const, value: lastSeq },
    };
  }

  /** One subscription; resolves with why it ended and whether it reached Ready. */
  async function attempt(): Promise<{ error: ConnectError; wasLive: boolean }> {
    // Leaving a for-await does not cancel a connect-es call: abort it.
    const call = new AbortController();
    const abort = () => call.abort();
    closed.signal.addEventListener("abort", abort);
    let stalled = false;
    let liveness: ReturnType<typeof setTimeout> | undefined;
    const armLiveness = () => {
      clearTimeout(liveness);
      liveness = setTimeout(() => {
        stalled = true;
        call.abort();
      }, heartbeatTimeoutMs);
    };
    let wasLive = false;
    try {
      const options = await auth({ signal: call.signal });
      armLiveness();
      for await (const res of client.subscribe(subscribeRequest(), options)) {
        armLiveness();
        if (handle(res.event)) wasLive = true;
      }
      return {
        error: new ConnectError("the server ended the subscription", Code.Unavailable),
        wasLive,
      };
    } catch (e) {
      const error = stalled
        ? new ConnectError(
            `no event or heartbeat for ${heartbeatTimeoutMs} ms`,
            Code.DeadlineExceeded,
            undefined,
            undefined,
            e,
          )
        : ConnectError.from(e);
      return { error, wasLive };
    } finally {
      clearTimeout(liveness);
      call.abort();
      closed.signal.removeEventListener("abort", abort);
    }
  }

  let running = false;
  async function run(): Promise<void> {
    running = true;
    let failures = 0;
    /** Whether the token was refreshed since the session was last live. */
    let refreshed = false;
    while (!closed.signal.aborted) {
      const used = currentToken();
      const { error, wasLive } = await attempt();
      if (closed.signal.aborted) break;
      lastError = error;
      typing.clear();
      emit("error", error);
      if (wasLive) refreshed = false;
      // An expired token: resume at once with a fresh one. Refused again
      // before going live, it is no use asking in a loop.
      if (error.code === Code.Unauthenticated && !refreshed && (await refreshToken(used))) {
        refreshed = true;
        if (!closed.signal.aborted) setState("reconnecting");
        continue;
      }
      if (fatalCodes.has(error.code)) {
        setState("failed");
        break;
      }
      // resource_exhausted (slow consumer, with chat-resume-after-seq) and
      // unavailable (shutdown) land here: resume from lastSeq, which is never
      // behind the trailer's position because every message up to it was
      // handled before the stream ended.
      if (wasLive) failures = 0;
      const delay = backoffDelay(failures++, backoff);
      nextRetryAt = Date.now() + delay;
      setState("reconnecting");
      await pause(delay);
      nextRetryAt = undefined;
      if (!closed.signal.aborted) emit("state", state);
    }
    running = false;
  }

  async function sendWithRetry(text: string, clientId: string): Promise<SendResponse> {
    let refreshed = false;
    for (let failures = 0; ; failures++) {
      if (closed.signal.aborted) throw new ConnectError("session closed", Code.Canceled);
      const used = currentToken();
      try {
        return await client.send(
          { room, sender: name, text, clientId },
          await auth({ signal: closed.signal, timeoutMs: sendTimeoutMs }),
        );
      } catch (e) {
        const error = ConnectError.from(e);
        if (closed.signal.aborted) throw error;
        if (error.code === Code.Unauthenticated && !refreshed && (await refreshToken(used))) {
          refreshed = true;
          continue;
        }
        if (!retryableSendCodes.has(error.code)) throw error;
        await pause(backoffDelay(failures, backoff));
      }
    }
  }

  /** Best effort: a lost notice expires on the receivers anyway. */
  function sendTyping(active: boolean, options: CallOptions): void {
    auth(options)
      .then((o) => client.setTyping({ room, name, typing: active }, o))
      .catch(() => {});
  }

  void run();

  return {
    get state() {
      return state;
    },
    get messages() {
      return messages;
    },
    get members() {
      return members;
    },
    get typing() {
      return typing.values();
    },
    get lastError() {
      return lastError;
    },
    get lastSeq() {
      return lastSeq;
    },
    get nextRetryAt() {
      return nextRetryAt;
    },
    on(event, listener) {
      const set = listeners[event] as Set<typeof listener>;
      set.add(listener);
      return () => {
        set.delete(listener);
      };
    },
    send(text, clientId = newId()) {
      // Receivers drop our typing notice when the message arrives.
      typingSent = false;
      const result = sendChain.then(() => sendWithRetry(text, clientId));
      sendChain = result.catch(() => undefined);
      return result;
    },
    setTyping(active) {
      if (closed.signal.aborted || state !== "live" || name.trim() === "") return;
      const now = Date.now();
      if (active && typingSent && now - typingSentAt < typingThrottleMs) return;
      if (!active && !typingSent) return;
      typingSent = active;
      typingSentAt = now;
      sendTyping(active, { signal: closed.signal, timeoutMs: sendTimeoutMs });
    },
    retryNow() {
      if (closed.signal.aborted) return;
      if (!running) {
        setState("reconnecting");
        void run();
      } else {
        wakeAll();
      }
    },
    close() {
      if (closed.signal.aborted) return;
      if (typingSent && state === "live") {
        // The others would see "typing…" until it expires: say it stopped.
        // Not tied to `closed`, which is about to abort.
        sendTyping(false, { timeoutMs: sendTimeoutMs });
        typingSent = false;
      }
      closed.abort();
      typing.clear();
      nextRetryAt = undefined;
      state = "closed";
      emit("state", state);
    },
  };
}
