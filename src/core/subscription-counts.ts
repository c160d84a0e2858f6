/**
 * Open subscriptions per room and name: the bookkeeping every presence
 * shares, so that a person with two tabs open joins once and leaves when the
 * last one closes. Each name holds a value made when it joins (the local
 * presence's `Member`, the Redis presence's entry). Rooms with no names left
 * are forgotten, so memory is bounded by the open subscriptions.
 */
export interface SubscriptionCounts<T> {
  /**
   * Counts one more subscription of `name` in `room`. When the name is new
   * to the room, holds `first()` for it and returns that; otherwise undefined.
   */
  add(room: string, name: string, first: () => T): T | undefined;
  /** Counts one subscription less; after the name's last one, forgets it and returns its value. */
  remove(room: string, name: string): T | undefined;
  /** The values of the names in `room` (none for a room not held). */
  values(room: string): Iterable<T>;
  /** The rooms that have names. */
  rooms(): Iterable<string>;
  has(room: string): boolean;
  clear(): void;
}

export function createSubscriptionCounts<T>(): SubscriptionCounts<T> {
  const rooms = new Map<string, Map<string, { value: T; count: number }>>();
  return {
    add(room, name, first) {
      let names = rooms.get(room);
      if (names === undefined) {
        names = new Map();
        rooms.set(room, names);
      }
      const held = names.get(name);
      if (held !== undefined) {
        held.count++;
        return undefined;
      }
      const value = first();
      names.set(name, { value, count: 1 });
      return value;
    },

    remove(room, name) {
      const names = rooms.get(room);
      const held = names?.get(name);
      if (names === undefined || held === undefined || --held.count > 0) return undefined;
      names.delete(name);
      if (names.size === 0) rooms.delete(room);
      return held.value;
    },

    *values(room) {
      for (const held of rooms.get(room)?.values() ?? []) yield held.value;
    },

    rooms: () => rooms.keys(),
    has: (room) => rooms.has(room),
    clear: () => rooms.clear(),
  };
}
