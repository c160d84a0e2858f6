/**
 * The waits between retries of a session (the subscription's backoff, a
 * send's), which must not outlast their reason: they end early when the
 * connection is back, when the user asks to retry now, and on close.
 */
export interface RetryPause {
  /** Resolves after `ms`, on `wakeAll()` or when the signal aborts, whichever comes first. */
  wait(ms: number): Promise<void>;
  /** Ends every wait in progress now. */
  wakeAll(): void;
}

/** `signal`: the session's; once aborted, waits end at once. */
export function createRetryPause(signal: AbortSignal): RetryPause {
  const wakers = new Set<() => void>();
  return {
    wait(ms) {
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wakers.delete(done);
          signal.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        wakers.add(done);
        signal.addEventListener("abort", done);
      });
    },
    wakeAll() {
      for (const wake of [...wakers]) wake();
    },
  };
}
