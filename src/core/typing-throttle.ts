/**
 * Lets a typing notice through unless it repeats the same state for the
 * same name in the same room within `repeatMs`: a client that says "still
 * typing" on every keystroke would otherwise flood every subscriber's
 * buffer. Changes of state always pass.
 *
 * Memory is bounded by the notices of the last `repeatMs`: entries are kept
 * in the order they were last passed, so the stale ones are dropped from
 * the front as new ones come, never the whole map at once (which would let
 * a burst of repeats through).
 */
export interface TypingThrottle {
  /** True when the notice should be published (and is remembered as such). */
  pass(room: string, name: string, typing: boolean): boolean;
}

export function createTypingThrottle(
  repeatMs = 1000,
  now: () => number = Date.now,
): TypingThrottle {
  /** Last notice passed per room and name, oldest first. */
  const seen = new Map<string, { typing: boolean; at: number }>();

  return {
    pass(room, name, typing) {
      const at = now();
      for (const [key, entry] of seen) {
        if (at - entry.at < repeatMs) break;
        seen.delete(key);
      }
      const key = `${room}\u0000${name}`;
      const last = seen.get(key);
      if (last !== undefined && last.typing === typing) return false;
      seen.delete(key);
      seen.set(key, { typing, at });
      return true;
    },
  };
}
