/**
 * Redis key and channel names, in one place. Every key of a room carries the
 * room as its hash tag (`{room}`), so a room lives in one cluster slot: one
 * Lua script can then read and write all of it atomically, and the room's
 * channel (sharded pub/sub) lives on the same node.
 */

/** Prefix of every key and channel; instances that share one prefix share one history. */
export const defaultPrefix = "chat";

/** The keys of one room. */
export interface RoomKeys {
  /** Stream of the retained messages; entry ID `<seq>-0`. */
  log: string;
  /** Hash: `head` (newest seq ever assigned) and `epoch` (the history it belongs to). */
  meta: string;
  /** Hash: `<sender>\0<clientId>` → seq, for idempotent appends of retained messages. */
  ids: string;
}

/**
 * The room as a hash tag. Redis hashes only what lies between the first `{`
 * and the next `}`, so a room containing a brace (or an empty one, `{}`)
 * would scatter its keys over several slots. The RPC edge only lets
 * `[a-z0-9._-]` through; for any other name this stays injective by
 * percent-encoding every name that contains `{`, `}` or `%` (the result
 * always contains `%`, which a name left as it is never does).
 */
export function roomTag(room: string): string {
  if (room === "") return "%";
  return /[{}%]/.test(room) ? encodeURIComponent(room) : room;
}

export function roomKeys(prefix: string, room: string): RoomKeys {
  const base = `${prefix}:{${roomTag(room)}}`;
  return { log: `${base}:log`, meta: `${base}:meta`, ids: `${base}:ids` };
}

/**
 * Where a room's stored messages are published, as chat.v1 `Event` bytes.
 * On a cluster it is a shard channel (SPUBLISH/SSUBSCRIBE) in the room's
 * slot; on a single node a plain channel (PUBLISH/SUBSCRIBE).
 */
export function roomChannel(prefix: string, room: string): string {
  return `${prefix}:{${roomTag(room)}}:events`;
}

/** String key naming the current history; see `RedisStore.epoch`. */
export function epochKey(prefix: string): string {
  return `${prefix}:epoch`;
}
