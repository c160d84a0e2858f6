import { Code, ConnectError } from "@connectrpc/connect";
import type { Identity } from "./identity.ts";

/** A stream's signal that also ends it when the caller's token expires. */
export interface IdentityDeadline {
  /**
   * Aborts with the parent's reason when the parent aborts, or with a
   * ConnectError `Unauthenticated` ("token expired") when the token does.
   */
  readonly signal: AbortSignal;
  /** Stops the timer and unlinks the parent. Call it when the stream ends, however it ends. */
  clear(): void;
}

function noop(): void {}

/** Longest delay a timer takes (2^31-1 ms, about 24.8 days); longer ones fire at once. */
const maxTimerMs = 2_147_483_647;

/** The error a stream ends with when its token expires: the client should get a fresh token and resume. */
export function tokenExpiredError(): ConnectError {
  return new ConnectError(
    "token expired: resubscribe with a fresh token to continue",
    Code.Unauthenticated,
  );
}

/**
 * Derives a stream's signal from `parent` (the call's own signal) that also
 * aborts when `identity`'s token expires. With auth off or a token without
 * `exp`, the signal is `parent` itself and `clear` does nothing. A token that
 * has already expired gives an aborted signal.
 *
 * Used by the Connect interceptor for every streaming call and meant for
 * any other path that serves streams (the fast path): pass the signal to
 * `ChatRooms.subscribe`, which then ends by throwing the Unauthenticated
 * reason, and call `clear()` in a `finally`.
 */
export function identityDeadline(
  identity: Identity | undefined,
  parent: AbortSignal,
  now: () => number = Date.now,
): IdentityDeadline {
  const expiresAt = identity?.expiresAt?.getTime();
  // Nothing to clear: no object per stream either (idle streams are many).
  if (expiresAt === undefined) return { signal: parent, clear: noop };
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onParentAbort = () => {
    clear();
    controller.abort(parent.reason);
  };
  function clear(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    parent.removeEventListener("abort", onParentAbort);
  }
  // Re-armed in steps: a token valid for months must not fire at once.
  const arm = () => {
    const left = expiresAt - now();
    if (left <= 0) {
      clear();
      controller.abort(tokenExpiredError());
      return;
    }
    timer = setTimeout(arm, Math.min(left, maxTimerMs));
    // The stream keeps the process alive, not its expiry.
    (timer as { unref?: () => void }).unref?.();
  };
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { signal: controller.signal, clear };
  }
  parent.addEventListener("abort", onParentAbort, { once: true });
  arm();
  return { signal: controller.signal, clear };
}
