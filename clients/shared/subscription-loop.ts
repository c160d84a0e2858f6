/**
 * Keeps one Subscribe stream open for as long as the session lives: each
 * attempt is watched for liveness, and each end of one is followed by a
 * resume after a backoff, by a token refresh, or (for errors that a new
 * attempt would hit again) by stopping until asked to retry.
 */
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { ChatService, Event, SubscribeRequest } from "../../src/gen/chat/v1/chat_pb.ts";
import type { CallAuth } from "./call-auth.ts";
import { type Backoff, backoffDelay } from "./retry.ts";
import type { RetryPause } from "./retry-pause.ts";

export interface SubscriptionLoopOptions {
  client: Client<typeof ChatService>;
  /** The request of the next attempt, asked for at its start: it resumes where the room is. */
  request: () => Pick<SubscribeRequest, "room" | "name" | "epoch" | "start">;
  auth: CallAuth;
  /** No event for this long means the connection is dead: abort it and reconnect. */
  heartbeatTimeoutMs: number;
  backoff: Backoff;
  /** The wait between attempts; shared with sends, so that going live wakes both. */
  pause: RetryPause;
  /** The session's: aborting it ends the open call and the loop. */
  signal: AbortSignal;
  /** Every event received, in order. */
  onEvent: (event: Event | undefined) => void;
  /** An attempt ended (not called for the end that closing the session causes). */
  onError: (error: ConnectError) => void;
  /**
   * The loop is between attempts: `reconnecting` with `retryAt` (ms since
   * epoch) while it waits, without once the next attempt starts; `failed`
   * when it stopped on an error that a retry would hit again.
   */
  onState: (state: "reconnecting" | "failed", retryAt?: number) => void;
}

export interface SubscriptionLoop {
  /** Starts the loop; call once. */
  start(): void;
  /** Skips the backoff wait; also restarts a loop that stopped as `failed`. */
  retryNow(): void;
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

export function createSubscriptionLoop(options: SubscriptionLoopOptions): SubscriptionLoop {
  const { auth, backoff, pause, signal, onError, onState } = options;
  let running = false;

  async function run(): Promise<void> {
    running = true;
    let failures = 0;
    /** Whether the token was refreshed since the stream was last live. */
    let refreshed = false;
    while (!signal.aborted) {
      const used = auth.current();
      const { error, wasLive } = await attempt(options);
      if (signal.aborted) break;
      onError(error);
      if (wasLive) refreshed = false;
      // An expired token: resume at once with a fresh one. Refused again
      // before going live, it is no use asking in a loop.
      if (error.code === Code.Unauthenticated && !refreshed && (await auth.refresh(used))) {
        refreshed = true;
        if (!signal.aborted) onState("reconnecting");
        continue;
      }
      if (fatalCodes.has(error.code)) {
        onState("failed");
        break;
      }
      // resource_exhausted (slow consumer, with chat-resume-after-seq) and
      // unavailable (shutdown) land here: resume from the last seq held,
      // which is never behind the trailer's position because every message
      // up to it was handled before the stream ended.
      if (wasLive) failures = 0;
      const delay = backoffDelay(failures++, backoff);
      onState("reconnecting", Date.now() + delay);
      await pause.wait(delay);
      if (!signal.aborted) onState("reconnecting");
    }
    running = false;
  }

  return {
    start() {
      void run();
    },
    retryNow() {
      if (signal.aborted) return;
      if (running) {
        pause.wakeAll();
      } else {
        onState("reconnecting");
        void run();
      }
    },
  };
}

/** One subscription; resolves with why it ended and whether it reached Ready. */
async function attempt(
  options: SubscriptionLoopOptions,
): Promise<{ error: ConnectError; wasLive: boolean }> {
  const { client, heartbeatTimeoutMs, signal } = options;
  // Leaving a for-await does not cancel a connect-es call: abort it.
  const call = new AbortController();
  const abort = () => call.abort();
  signal.addEventListener("abort", abort);
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
    const callOptions = await options.auth.options({ signal: call.signal });
    armLiveness();
    for await (const res of client.subscribe(options.request(), callOptions)) {
      armLiveness();
      options.onEvent(res.event);
      if (res.event?.kind.case === "ready") wasLive = true;
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
    signal.removeEventListener("abort", abort);
  }
}
