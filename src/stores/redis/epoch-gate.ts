import { StoreUnavailableError } from "../../core/errors.ts";
import type { RedisConnection } from "./connect.ts";
import { epochKey } from "./keys.ts";

/** Called when the epoch changed, with the new and the previous one. */
export type EpochListener = (epoch: string, previous: string) => void;

/** Whether the store may serve, and which history it serves: see {@link openEpochGate}. */
export interface EpochGate {
  readonly epoch: string;
  readonly available: boolean;
  /** Throws {@link StoreUnavailableError} unless available. */
  assertAvailable(): void;
  whenAvailable(signal?: AbortSignal): Promise<void>;
  onEpochChange(listener: EpochListener): () => void;
  /** Re-reads the epoch (a room said it changed); resolves to the current one. */
  sync(): Promise<string>;
  close(): void;
}

/**
 * Reads (or creates) the epoch, and again after every reconnect, before the
 * store may serve: a Redis restarted without persistence comes back empty,
 * and its missing epoch is then created anew (SET NX, then GET, so all
 * instances agree) and announced. `prepare` runs with each check (loading
 * the scripts, whose cache a restart empties too).
 */
export async function openEpochGate(
  connection: RedisConnection,
  prefix: string,
  prepare: () => Promise<void>,
): Promise<EpochGate> {
  const listeners = new Set<EpochListener>();
  const waiters = new Set<() => void>();
  let epoch = "";
  let checked = false;
  let closed = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  /** Counts connection changes, so that a check that finished late cannot vouch for a newer connection. */
  let checks = 0;
  let syncing: Promise<string> | undefined;

  async function readEpoch(): Promise<string> {
    const key = epochKey(prefix);
    let value = await connection.command(key, ["GET", key]);
    if (value === null) {
      await connection.command(key, ["SET", key, crypto.randomUUID(), "NX"]);
      value = await connection.command(key, ["GET", key]);
    }
    if (typeof value !== "string") throw new Error(`${key} is not a string`);
    const previous = epoch;
    epoch = value;
    if (previous === "" || previous === value) return value;
    for (const listener of listeners) {
      try {
        listener(value, previous);
      } catch {
        // A listener's failure is its own; the others still hear of the change.
      }
    }
    return value;
  }

  /** One read at a time; concurrent callers share it (and resume in call order). */
  function sync(): Promise<string> {
    syncing ??= readEpoch().finally(() => {
      syncing = undefined;
    });
    return syncing;
  }

  function check(): Promise<void> {
    const current = ++checks;
    checked = false;
    clearTimeout(retry);
    return Promise.all([sync(), prepare()]).then(() => {
      if (current !== checks || !connection.up) return;
      checked = true;
      for (const wake of waiters) wake();
    });
  }

  const stopWatching = connection.onStatus((up) => {
    if (closed) return;
    if (!up) {
      checks++;
      checked = false;
      return;
    }
    const recheck = (): void => {
      check().catch(() => {
        // Still loading its data, or lost again: try again while connected.
        if (!closed && connection.up) retry = setTimeout(recheck, 100);
      });
    };
    recheck();
  });
  try {
    await check();
  } catch (e) {
    stopWatching();
    throw e;
  }

  const isAvailable = () => !closed && checked && connection.up;
  return {
    get epoch() {
      return epoch;
    },
    get available() {
      return isAvailable();
    },
    assertAvailable() {
      if (closed) throw new Error("the store is closed");
      if (isAvailable()) return;
      throw new StoreUnavailableError(
        connection.up
          ? "the message store is being checked after a reconnect"
          : "the message store (Redis) is unreachable",
      );
    },
    whenAvailable(signal) {
      if (closed) return Promise.reject(new Error("the store is closed"));
      if (isAvailable()) return Promise.resolve();
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<void>((resolve, reject) => {
        const wake = () => {
          waiters.delete(wake);
          signal?.removeEventListener("abort", wake);
          if (isAvailable()) resolve();
          else reject(closed ? new Error("the store is closed") : signal?.reason);
        };
        waiters.add(wake);
        signal?.addEventListener("abort", wake, { once: true });
      });
    },
    onEpochChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    sync,
    close() {
      closed = true;
      clearTimeout(retry);
      stopWatching();
      for (const wake of [...waiters]) wake();
    },
  };
}
